"""The benchmark workloads, each written three ways over identical data, initial weights and
batch order: ember (idiomatic torch-style code), torch (the same code on real torch) and numpy
(hand-written batched forward/backward and SGD/Adam, as a careful numpy user writes it).

A workload is built by `build(wid, flavor, quick)`, returning a Run with `steps()` (one pass
of the timed training loop, returning the number of optimizer steps) and `loss()` (the final
training loss, used to check that the three flavours compute the same thing)."""
import importlib
import math

import numpy as np

# id -> (description, spec)
WORKLOADS = {
    "W1": "1-D linear regression, Linear(1,1), MSELoss, batch 1, SGD lr 0.01, 10 epochs (600 steps)",
    "W1b": "the same with batch_size=20 (30 steps)",
    "lab": "W1 as the seed lab writes it: its own Dataset subclass (__getitem__ returns self.x[index], "
           "self.y[index]) and the default collate, batch 1 (600 steps)",
    "lab20": "the same with batch_size=20 (30 steps)",
    "W2": "MLP 2-64-64-3 ReLU, 1024 spiral points, CrossEntropyLoss, batch 32, SGD lr 0.05 momentum 0.9, 5 epochs",
    "W3": "MLP 784-256-128-10 ReLU, 8192 samples, CrossEntropyLoss, batch 128, SGD lr 0.05, 2 epochs",
    "W4": "MLP 1024-2048-1024 ReLU, MSELoss, batch 512, SGD lr 0.01, 20 steps",
    "W4-adam": "the same with Adam lr 1e-3",
}

# The chart's labels: what each workload is, in a few words.
LABELS = {
    "W1": "W1 lin. regression b1 (TensorDataset)",
    "W1b": "W1b lin. regression b20 (TensorDataset)",
    "lab": "lab: own Dataset b1",
    "lab20": "lab20: own Dataset b20",
    "W2": "W2 MLP 2-64-64-3",
    "W3": "W3 MLP 784-256-128-10",
    "W4": "W4 MLP 1024-2048-1024",
    "W4-adam": "W4-adam",
}

# ---------------------------------------------------------------- data and initial weights
def lab_data():
    x = np.arange(-3, 3, 0.1, dtype=np.float32).reshape(-1, 1)
    y = (1 * x - 1 + 0.1 * np.sin(7 * x)).astype(np.float32)
    return x, y


def spiral(n=1024, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    per = n // classes + 1
    xs, ys = [], []
    for c in range(classes):
        r = np.linspace(0.05, 1.0, per)
        t = np.linspace(c * 4.0, (c + 1) * 4.0, per) + rng.standard_normal(per) * 0.2
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], 1))
        ys.append(np.full(per, c))
    x = np.concatenate(xs)[:n].astype(np.float32)
    y = np.concatenate(ys)[:n].astype(np.int64)
    return x, y


def synthetic(n, d, classes, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    w = rng.standard_normal((d, classes)).astype(np.float32)
    y = np.argmax(x @ w, 1).astype(np.int64)
    return x, y


def mlp_weights(sizes, seed=2):
    """torch's default Linear init bounds, drawn with numpy so every flavour starts equal."""
    rng = np.random.default_rng(seed)
    ws = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / math.sqrt(fan_in)
        ws.append((rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32),
                   rng.uniform(-bound, bound, fan_out).astype(np.float32)))
    return ws


SPECS = {
    # wid: (data fn, layer sizes, loss, batch, optimizer, opt kwargs, epochs or steps)
    "W1": dict(data="lab", sizes=(1, 1), loss="mse", batch=1, opt="sgd", kw=dict(lr=0.01), epochs=10),
    "W1b": dict(data="lab", sizes=(1, 1), loss="mse", batch=20, opt="sgd", kw=dict(lr=0.01), epochs=10),
    "lab": dict(data="lab", sizes=(1, 1), loss="mse", batch=1, opt="sgd", kw=dict(lr=0.01), epochs=10,
                custom_dataset=True),
    "lab20": dict(data="lab", sizes=(1, 1), loss="mse", batch=20, opt="sgd", kw=dict(lr=0.01), epochs=10,
                  custom_dataset=True),
    "W2": dict(data="spiral", sizes=(2, 64, 64, 3), loss="ce", batch=32, opt="sgd", kw=dict(lr=0.05, momentum=0.9),
               epochs=5),
    "W3": dict(data="w3", sizes=(784, 256, 128, 10), loss="ce", batch=128, opt="sgd", kw=dict(lr=0.05), epochs=2),
    "W4": dict(data="w4", sizes=(1024, 2048, 1024), loss="mse", batch=512, opt="sgd", kw=dict(lr=0.01), epochs=1),
    "W4-adam": dict(data="w4", sizes=(1024, 2048, 1024), loss="mse", batch=512, opt="adam", kw=dict(lr=1e-3),
                    epochs=1),
}


def dataset(spec, quick):
    if spec["data"] == "lab":
        x, y = lab_data()
    elif spec["data"] == "spiral":
        x, y = spiral()
    elif spec["data"] == "w3":
        x, y = synthetic(1024 if quick else 8192, 784, 10)
    else:  # W4: 20 batches of 512 regression targets
        rng = np.random.default_rng(3)
        n = 512 * (2 if quick else 20)
        x = rng.standard_normal((n, 1024)).astype(np.float32)
        y = (0.1 * rng.standard_normal((n, 1024))).astype(np.float32)
    if spec["data"] == "lab" and quick:
        x, y = x[:20], y[:20]
    return x, y


# ---------------------------------------------------------------- torch-style flavours
def lab_dataset(lib, x, y):
    """The seed lab's Dataset, as written there (examples/optimization_lab.py): a Python
    __getitem__ per sample and the default collate."""
    class Data(lib.utils.data.Dataset):
        def __init__(self):
            self.x, self.y = x, y
            self.len = self.x.shape[0]

        def __getitem__(self, index):
            return self.x[index], self.y[index]

        def __len__(self):
            return self.len

    return Data()


class TorchStyleRun:
    """The classic loop, written once for `torch` and for `ember` (the module passed in)."""

    def __init__(self, lib, spec, quick):
        self.lib = lib
        x, y = dataset(spec, quick)
        nn = lib.nn
        self.x, self.y = lib.tensor(x), lib.tensor(y)
        ds = lab_dataset(lib, self.x, self.y) if spec.get("custom_dataset") else lib.utils.data.TensorDataset(self.x, self.y)
        self.loader = lib.utils.data.DataLoader(ds, batch_size=spec["batch"], shuffle=False)
        layers = []
        sizes = spec["sizes"]
        for i, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(fi, fo))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.model = nn.Sequential(*layers) if len(layers) > 1 else layers[0]
        with lib.no_grad():
            linears = [m for m in self.model.modules() if isinstance(m, nn.Linear)]
            for m, (w, b) in zip(linears, mlp_weights(sizes)):
                m.weight.copy_(lib.tensor(w))
                m.bias.copy_(lib.tensor(b))
        self.criterion = nn.MSELoss() if spec["loss"] == "mse" else nn.CrossEntropyLoss()
        opt = lib.optim.SGD if spec["opt"] == "sgd" else lib.optim.Adam
        self.optimizer = opt(self.model.parameters(), **spec["kw"])
        self.epochs = 1 if quick else spec["epochs"]
        self.last = None

    def steps(self):
        model, criterion, optimizer = self.model, self.criterion, self.optimizer
        n = 0
        for _ in range(self.epochs):
            for xb, yb in self.loader:
                loss = criterion(model(xb), yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                n += 1
        self.last = loss
        return n

    def loss(self):
        with self.lib.no_grad():
            return float(self.criterion(self.model(self.x), self.y).item())


# ---------------------------------------------------------------- numpy flavour
class NumpyRun:
    """Hand-written forward/backward: affine layers, ReLU, MSE or softmax cross-entropy,
    SGD (with momentum as torch defines it) or Adam, in float32 with in-place updates."""

    def __init__(self, spec, quick):
        self.x, self.y = dataset(spec, quick)
        self.ws = [(w.T.copy(), b.copy()) for w, b in mlp_weights(spec["sizes"])]  # W as (in, out)
        self.loss_kind, self.batch = spec["loss"], spec["batch"]
        self.opt, self.kw = spec["opt"], spec["kw"]
        self.epochs = 1 if quick else spec["epochs"]
        self.state = [[np.zeros_like(w), np.zeros_like(b)] for w, b in self.ws]
        self.state2 = [[np.zeros_like(w), np.zeros_like(b)] for w, b in self.ws]
        self.t = 0
        self.first = True

    def _forward(self, x):
        acts = [x]
        h = x
        for i, (w, b) in enumerate(self.ws):
            h = h @ w
            h += b
            if i < len(self.ws) - 1:
                np.maximum(h, 0, out=h)
            acts.append(h)
        return acts

    def _loss_grad(self, out, y):
        n = out.shape[0]
        if self.loss_kind == "mse":
            d = out - y
            return float(np.mean(d * d)), d * (2.0 / d.size)
        z = out - out.max(1, keepdims=True)
        e = np.exp(z)
        s = e.sum(1, keepdims=True)
        p = e / s
        loss = float(np.mean(np.log(s[:, 0]) - z[np.arange(n), y]))
        p[np.arange(n), y] -= 1
        p /= n
        return loss, p

    def _step(self, grads):
        lr = self.kw["lr"]
        if self.opt == "sgd":
            mom = self.kw.get("momentum", 0)
            for (w, b), (gw, gb), buf in zip(self.ws, grads, self.state):
                if mom:
                    for k, g in enumerate((gw, gb)):
                        if self.first:
                            buf[k][...] = g
                        else:
                            buf[k] *= mom
                            buf[k] += g
                    gw, gb = buf
                w -= lr * gw
                b -= lr * gb
            self.first = False
            return
        b1, b2, eps = 0.9, 0.999, 1e-8
        self.t += 1
        c1, c2 = 1 - b1 ** self.t, math.sqrt(1 - b2 ** self.t)
        for (w, b), (gw, gb), m, v in zip(self.ws, grads, self.state, self.state2):
            for k, (p, g) in enumerate(((w, gw), (b, gb))):
                m[k] += (g - m[k]) * (1 - b1)
                v[k] *= b2
                v[k] += (1 - b2) * g * g
                p -= (lr / c1) * m[k] / (np.sqrt(v[k]) / c2 + eps)

    def _backward(self, acts, g):
        grads = []
        for i in range(len(self.ws) - 1, -1, -1):
            w, _ = self.ws[i]
            a = acts[i]
            grads.append((a.T @ g, g.sum(0)))
            if i > 0:
                g = g @ w.T
                g *= acts[i] > 0
        return grads[::-1]

    def steps(self):
        n = 0
        bs = self.batch
        for _ in range(self.epochs):
            for s in range(0, len(self.x), bs):
                xb, yb = self.x[s:s + bs], self.y[s:s + bs]
                acts = self._forward(xb)
                _, g = self._loss_grad(acts[-1], yb)
                self._step(self._backward(acts, g))
                n += 1
        return n

    def loss(self):
        return self._loss_grad(self._forward(self.x)[-1], self.y)[0]


def available(flavor):
    try:
        importlib.import_module("ember" if flavor == "ember" else flavor)
        return True
    except ImportError:
        return False


def step_flops(wid):
    """Floating-point operations of one training step's products (forward, and backward without
    the first layer's input gradient): what W4's GFLOP/s are computed from."""
    spec = SPECS[wid]
    sizes, b = spec["sizes"], spec["batch"]
    pairs = list(zip(sizes[:-1], sizes[1:]))
    return 2 * b * (3 * sum(i * o for i, o in pairs) - pairs[0][0] * pairs[0][1])


def build(wid, flavor, quick=False):
    spec = SPECS[wid]
    if flavor == "numpy":
        return NumpyRun(spec, quick)
    lib = importlib.import_module(flavor)
    return TorchStyleRun(lib, spec, quick)
