"""The benchmark workloads, each written three ways over identical data, initial weights and
batch order: ember (idiomatic torch-style code), torch (the same code on real torch) and numpy
(hand-written batched forward/backward and SGD/Adam, as a careful numpy user writes it).

A workload is built by `build(wid, flavor, quick)`, returning a Run with `steps()` (one pass
of the timed training loop, returning the number of optimizer steps) and `loss()` (the final
training loss, used to check that the three flavours compute the same thing)."""
import importlib
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

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
    "W5": "LeNet-5 (Conv2d 1-6 k5 pad 2, ReLU, MaxPool 2, Conv2d 6-16 k5, ReLU, MaxPool 2, Linear 400-120-84-10) "
          "on 2048 synthetic 1x28x28 images, CrossEntropyLoss, batch 64, SGD lr 0.05 momentum 0.9, 1 epoch (32 steps)",
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
    "W5": "W5 LeNet-5 b64",
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


def lenet_data(n, classes=10, seed=5):
    """Synthetic 1x28x28 "digits": each class is a fixed pattern of three Gaussian blobs; an image is
    its class's pattern at a random brightness plus pixel noise (labels drawn at random), and the
    set is standardised, then scaled to a standard deviation of 0.4.

    Note [W5 data]: at lr 0.05 and momentum 0.9, LeNet's escape from its initial plateau (loss
    ln 10) is chaotic: once it is under way, float32 rounding differences between flavours grow to
    percents within a few steps. At the input scale 0.4 the one epoch ends as that escape begins
    (loss 2.31 -> 2.12), where torch and numpy agree to ~1e-7 (and a 1e-6 relative perturbation of
    the initial weights moves the final loss by ~1e-5). With unit-variance inputs the loss falls
    further within the epoch, but such a perturbation then moves the final loss by several percent.
    In the third epoch the flavours' losses part (0.54 vs 0.92), and they near 0 soon after; so
    the flavours are compared after one pass of fresh runs (SPECS' "check_fresh")."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float32)
    protos = np.zeros((classes, 28, 28), np.float32)
    for c in range(classes):
        for cy, cx in rng.uniform(5, 23, (3, 2)):
            protos[c] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 18.0)
    y = rng.integers(0, classes, n).astype(np.int64)
    scale = rng.uniform(0.5, 1.5, (n, 1, 1)).astype(np.float32)
    x = scale * protos[y] + 0.5 * rng.standard_normal((n, 28, 28)).astype(np.float32)
    x -= x.mean()
    x /= x.std()
    x *= 0.4
    return x.reshape(n, 1, 28, 28).astype(np.float32), y


# LeNet-5's layers: ("conv", in channels, out channels, kernel, padding) or ("linear", in, out)
LENET = [("conv", 1, 6, 5, 2), ("conv", 6, 16, 5, 0), ("linear", 400, 120), ("linear", 120, 84), ("linear", 84, 10)]


def lenet_weights(seed=2):
    """torch's default Conv2d/Linear init bounds (kaiming-uniform a=sqrt(5): 1/sqrt(fan_in) for weight
    and bias, fan_in = in_channels*kh*kw for a conv), drawn with numpy so every flavour starts equal.
    Weights in torch's layout: (out, in, kh, kw) and (out, in)."""
    rng = np.random.default_rng(seed)
    ws = []
    for layer in LENET:
        shape = (layer[2], layer[1], layer[3], layer[3]) if layer[0] == "conv" else (layer[2], layer[1])
        bound = 1 / math.sqrt(math.prod(shape[1:]))
        ws.append((rng.uniform(-bound, bound, shape).astype(np.float32),
                   rng.uniform(-bound, bound, shape[0]).astype(np.float32)))
    return ws


def layer_macs(spec):
    """Multiply-adds per sample of each layer's product, in order."""
    if spec.get("arch") == "lenet":
        macs, side = [], 28
        for layer in LENET:
            if layer[0] == "conv":
                _, ci, co, k, pad = layer
                side = side + 2 * pad - k + 1
                macs.append(co * side * side * ci * k * k)
                side //= 2  # the 2x2 max pool after it
            else:
                macs.append(layer[1] * layer[2])
        return macs
    sizes = spec["sizes"]
    return [i * o for i, o in zip(sizes[:-1], sizes[1:])]


SPECS = {
    # wid: (data fn, layer sizes or arch, loss, batch, optimizer, opt kwargs, epochs or steps)
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
    # check_fresh: W5's training is chaotic after its first pass (Note [W5 data]), so the flavours'
    # losses are compared after one pass of fresh runs (fresh_loss), not after the timed passes
    "W5": dict(data="lenet", arch="lenet", loss="ce", batch=64, opt="sgd", kw=dict(lr=0.05, momentum=0.9), epochs=1,
               check_fresh=True),
}


def dataset(spec, quick):
    if spec["data"] == "lab":
        x, y = lab_data()
    elif spec["data"] == "spiral":
        x, y = spiral()
    elif spec["data"] == "w3":
        x, y = synthetic(1024 if quick else 8192, 784, 10)
    elif spec["data"] == "lenet":
        x, y = lenet_data(128 if quick else 2048)
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
        if spec.get("arch") == "lenet":
            self.model = nn.Sequential(
                nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(),
                nn.Linear(400, 120), nn.ReLU(),
                nn.Linear(120, 84), nn.ReLU(),
                nn.Linear(84, 10))
            init, kinds = lenet_weights(), (nn.Conv2d, nn.Linear)
        else:
            layers = []
            sizes = spec["sizes"]
            for i, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:])):
                layers.append(nn.Linear(fi, fo))
                if i < len(sizes) - 2:
                    layers.append(nn.ReLU())
            self.model = nn.Sequential(*layers) if len(layers) > 1 else layers[0]
            init, kinds = mlp_weights(sizes), nn.Linear
        with lib.no_grad():
            layers = [m for m in self.model.modules() if isinstance(m, kinds)]
            for m, (w, b) in zip(layers, init):
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


class NumpyLeNetRun:
    """LeNet-5 by hand. Activations are (C, H, W, N), batch innermost, so every shifted window
    and pooling view reads runs of W*N contiguous floats. A conv is im2col (a sliding_window_view
    copied to a (C*kh*kw, OH*OW*N) matrix, rows in the order of torch's weight layout) and one
    matmul; its weight gradient is grad_out_cols @ cols^T and its input gradient col2im, a loop
    over the 25 kernel offsets adding shifted slices. The 2x2 max pool takes the maximum of the
    four strided views of a reshape; one-hot masks of the first maximum (torch's argmax) route
    its gradient. SGD with momentum as torch defines it, float32, in-place updates."""

    def __init__(self, spec, quick):
        x, self.y = dataset(spec, quick)
        self.x = np.ascontiguousarray(x.transpose(1, 2, 3, 0))  # (1, 28, 28, n)
        # the conv weights stay (out, in, kh, kw) (used as (out, in*kh*kw) views), the linears (out, in)
        self.params = [[w, b] for w, b in lenet_weights()]
        self.batch, self.kw = spec["batch"], spec["kw"]
        self.epochs = 1 if quick else spec["epochs"]
        self.bufs = [[np.zeros_like(w), np.zeros_like(b)] for w, b in self.params]
        self.first = True

    @staticmethod
    def _im2col(x, k):
        win = sliding_window_view(x, (k, k), axis=(1, 2))  # (c, oh, ow, n, k, k)
        return win.transpose(0, 4, 5, 1, 2, 3).reshape(x.shape[0] * k * k, -1)  # copies

    def _conv(self, x, w, b, pad):
        c, h, wd, n = x.shape
        o, _, k, _ = w.shape
        if pad:
            xp = np.zeros((c, h + 2 * pad, wd + 2 * pad, n), np.float32)
            xp[:, pad:-pad, pad:-pad] = x
            x = xp
        cols = self._im2col(x, k)
        out = w.reshape(o, -1) @ cols
        out += b[:, None]
        return cols, out.reshape(o, x.shape[1] - k + 1, x.shape[2] - k + 1, n)

    @staticmethod
    def _pool(a):
        c, h, w, n = a.shape
        v = a.reshape(c, h // 2, 2, w // 2, 2, n)
        q = [v[:, :, i, :, j] for i in (0, 1) for j in (0, 1)]
        out = np.maximum(np.maximum(q[0], q[1]), np.maximum(q[2], q[3]))
        masks, taken = [], np.zeros(out.shape, bool)
        for qi in q[:3]:  # one-hot of the first maximum in (dy, dx) order, as torch picks it
            m = qi == out
            m &= ~taken
            taken |= m
            masks.append(m)
        masks.append(~taken)
        return out, masks

    @staticmethod
    def _unpool(g, masks):
        c, h, w, n = g.shape
        full = np.empty((c, h, 2, w, 2, n), np.float32)
        for (i, j), m in zip(((0, 0), (0, 1), (1, 0), (1, 1)), masks):
            np.multiply(g, m, out=full[:, :, i, :, j])
        return full.reshape(c, 2 * h, 2 * w, n)

    def _forward(self, x):
        (w1, b1), (w2, b2), (w3, b3), (w4, b4), (w5, b5) = self.params
        cols1, a1 = self._conv(x, w1, b1, 2)
        np.maximum(a1, 0, out=a1)
        p1, m1 = self._pool(a1)
        cols2, a2 = self._conv(p1, w2, b2, 0)
        np.maximum(a2, 0, out=a2)
        p2, m2 = self._pool(a2)
        f = p2.reshape(-1, x.shape[-1])  # (400, n): features in torch's (C, H, W) flatten order
        h3 = w3 @ f
        h3 += b3[:, None]
        np.maximum(h3, 0, out=h3)
        h4 = w4 @ h3
        h4 += b4[:, None]
        np.maximum(h4, 0, out=h4)
        out = w5 @ h4
        out += b5[:, None]
        return out.T, (cols1, a1, m1, p1, cols2, a2, m2, f, h3, h4)

    def _backward(self, cache, g):
        (w1, _), (w2, _), (w3, _), (w4, _), (w5, _) = self.params
        cols1, a1, m1, p1, cols2, a2, m2, f, h3, h4 = cache
        grads = [None] * 5
        g = g.T  # (10, n)
        grads[4] = (g @ h4.T, g.sum(1))
        g = w5.T @ g
        g *= h4 > 0
        grads[3] = (g @ h3.T, g.sum(1))
        g = w4.T @ g
        g *= h3 > 0
        grads[2] = (g @ f.T, g.sum(1))
        g = (w3.T @ g).reshape(m2[0].shape)
        g = self._unpool(g, m2)
        g *= a2 > 0
        o, c, k, _ = w2.shape
        g = g.reshape(o, -1)  # (16, 10*10*n)
        grads[1] = ((g @ cols2.T).reshape(w2.shape), g.sum(1))
        # col2im: the input gradient of each kernel offset is a shifted slice of the input
        oh, ow = a2.shape[1:3]
        gcols = (w2.reshape(o, -1).T @ g).reshape(c, k, k, oh, ow, -1)
        gp = np.zeros(p1.shape, np.float32)
        for dy in range(k):
            for dx in range(k):
                gp[:, dy:dy + oh, dx:dx + ow] += gcols[:, dy, dx]
        g = self._unpool(gp, m1)
        g *= a1 > 0
        g = g.reshape(w1.shape[0], -1)
        grads[0] = ((g @ cols1.T).reshape(w1.shape), g.sum(1))  # no input gradient for the first layer
        return grads

    def _step(self, grads):
        lr, mom = self.kw["lr"], self.kw.get("momentum", 0)
        for p, gp, buf in zip(self.params, grads, self.bufs):
            for k in range(2):
                g = gp[k]
                if mom:
                    if self.first:
                        buf[k][...] = g
                    else:
                        buf[k] *= mom
                        buf[k] += g
                    g = buf[k]
                p[k] -= lr * g
        self.first = False

    @staticmethod
    def _ce(out, y):
        n = out.shape[0]
        z = out - out.max(1, keepdims=True)
        e = np.exp(z)
        s = e.sum(1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) - z[np.arange(n), y]))
        p = e / s
        p[np.arange(n), y] -= 1
        p /= n
        return loss, p

    def steps(self):
        n = 0
        bs = self.batch
        for _ in range(self.epochs):
            for s in range(0, self.x.shape[-1], bs):
                out, cache = self._forward(self.x[..., s:s + bs])
                _, g = self._ce(out, self.y[s:s + bs])
                self._step(self._backward(cache, g))
                n += 1
        return n

    def loss(self):
        total, n = 0.0, self.x.shape[-1]
        for s in range(0, n, 256):  # in chunks: im2col of all the images at once is large
            yb = self.y[s:s + 256]
            total += self._ce(self._forward(self.x[..., s:s + 256])[0], yb)[0] * len(yb)
        return total / n


def available(flavor):
    try:
        importlib.import_module("ember" if flavor == "ember" else flavor)
        return True
    except ImportError:
        return False


def step_flops(wid):
    """Floating-point operations of one training step's products (forward, and backward without
    the first layer's input gradient; a conv counted as its im2col product): what W4's and W5's
    GFLOP/s are computed from."""
    spec = SPECS[wid]
    macs = layer_macs(spec)
    return 2 * spec["batch"] * (3 * sum(macs) - macs[0])


def fresh_loss(wid, flavor, quick=False):
    """The training loss after one pass (`steps()`) of a freshly built run."""
    run = build(wid, flavor, quick)
    run.steps()
    return run.loss()


def build(wid, flavor, quick=False):
    spec = SPECS[wid]
    if flavor == "numpy":
        return NumpyLeNetRun(spec, quick) if spec.get("arch") == "lenet" else NumpyRun(spec, quick)
    lib = importlib.import_module(flavor)
    return TorchStyleRun(lib, spec, quick)
