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
    "W6": "char-level LSTM: Embedding(65,32), LSTM(32,128,batch_first=True), Linear(128,65), CrossEntropyLoss at "
          "every position, batch 32 x 32 tokens of a Markov-chain token stream, Adam lr 2e-3, 20 steps",
    "W7": "tiny GPT: token + position Embeddings (65 and 32 x 64), 2 pre-norm blocks (LayerNorm, MultiheadAttention "
          "64 / 4 heads with a causal mask, LayerNorm, MLP 64-256-64 with GELU), LayerNorm, Linear(64,65); batch 16 "
          "x 32 tokens of the W6 stream, CrossEntropyLoss, AdamW lr 1e-3 weight_decay 0.01, 20 steps",
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
    "W6": "W6 char LSTM 32-128 b32x32",
    "W7": "W7 tiny GPT 2x64 b16x32",
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


def token_stream(n, vocab=65, successors=4, seed=6):
    """A text-like stream of n tokens: a first-order Markov chain over `vocab` symbols whose
    transition matrix is sparse (each symbol has `successors` possible next symbols, with
    Dirichlet-drawn probabilities), so a model of the previous token brings the loss from
    ln 65 = 4.17 towards the chain's entropy rate (about 1 nat)."""
    rng = np.random.default_rng(seed)
    nxt = np.stack([rng.choice(vocab, successors, replace=False) for _ in range(vocab)])
    cum = np.cumsum(rng.dirichlet(np.ones(successors), vocab), 1)
    u = rng.random(n)
    out = np.empty(n, np.int64)
    s = 0
    for i in range(n):
        s = nxt[s, min(int(np.searchsorted(cum[s], u[i])), successors - 1)]
        out[i] = s
    return out


def lm_data(spec, quick):
    """W6/W7's sequences: (steps * batch) windows of `seq` tokens at offsets 0, seq, 2*seq, ... of
    the token stream, and their targets, the same windows shifted by one token. One pass (epoch)
    over them in order is the workload's steps."""
    n, t = (2 if quick else spec["steps"]) * spec["batch"], spec["seq"]
    stream = token_stream(n * t + 1, spec["vocab"])
    return stream[:-1].reshape(n, t), stream[1:].reshape(n, t)


def lstm_weights(spec, seed=7):
    """W6's initial weights by the names of the torch-style model's parameters: torch's default
    inits (Embedding N(0, 1); LSTM U(-1/sqrt(hidden), 1/sqrt(hidden)) for every weight and bias;
    Linear U(-1/sqrt(fan_in), 1/sqrt(fan_in))), drawn with numpy so every flavour starts equal."""
    rng = np.random.default_rng(seed)
    v, e, h = spec["vocab"], spec["emb"], spec["hidden"]

    def u(bound, *shape):
        return rng.uniform(-bound, bound, shape).astype(np.float32)
    k = 1 / math.sqrt(h)
    return {"emb.weight": rng.standard_normal((v, e)).astype(np.float32),
            "lstm.weight_ih_l0": u(k, 4 * h, e), "lstm.weight_hh_l0": u(k, 4 * h, h),
            "lstm.bias_ih_l0": u(k, 4 * h), "lstm.bias_hh_l0": u(k, 4 * h),
            "head.weight": u(k, v, h), "head.bias": u(k, v)}


def gpt_weights(spec, seed=8):
    """W7's initial weights by the names of the torch-style model's parameters: torch's default
    inits (Embedding N(0, 1); MultiheadAttention's in_proj_weight xavier-uniform, in_proj_bias and
    out_proj.bias 0, out_proj.weight and every Linear U(-1/sqrt(fan_in), 1/sqrt(fan_in)); LayerNorm
    weight 1, bias 0), drawn with numpy so every flavour starts equal."""
    rng = np.random.default_rng(seed)
    v, d, ff, t = spec["vocab"], spec["d"], spec["ff"], spec["seq"]

    def u(bound, *shape):
        return rng.uniform(-bound, bound, shape).astype(np.float32)
    w = {"tok.weight": rng.standard_normal((v, d)).astype(np.float32),
         "pos.weight": rng.standard_normal((t, d)).astype(np.float32)}
    for i in range(spec["layers"]):
        b = f"blocks.{i}."
        w.update({b + "ln1.weight": np.ones(d, np.float32), b + "ln1.bias": np.zeros(d, np.float32),
                  b + "attn.in_proj_weight": u(math.sqrt(6 / (d + 3 * d)), 3 * d, d),
                  b + "attn.in_proj_bias": np.zeros(3 * d, np.float32),
                  b + "attn.out_proj.weight": u(1 / math.sqrt(d), d, d),
                  b + "attn.out_proj.bias": np.zeros(d, np.float32),
                  b + "ln2.weight": np.ones(d, np.float32), b + "ln2.bias": np.zeros(d, np.float32),
                  b + "mlp.0.weight": u(1 / math.sqrt(d), ff, d), b + "mlp.0.bias": u(1 / math.sqrt(d), ff),
                  b + "mlp.2.weight": u(1 / math.sqrt(ff), d, ff), b + "mlp.2.bias": u(1 / math.sqrt(ff), d)})
    w.update({"ln_f.weight": np.ones(d, np.float32), "ln_f.bias": np.zeros(d, np.float32),
              "head.weight": u(1 / math.sqrt(d), v, d), "head.bias": u(1 / math.sqrt(d), v)})
    return w


def layer_macs(spec):
    """Multiply-adds per sample (per sequence for W6/W7) of each layer's product, in order."""
    if spec.get("arch") == "lstm":  # input projection (all steps at once), recurrence, head
        t, e, h, v = spec["seq"], spec["emb"], spec["hidden"], spec["vocab"]
        return [t * e * 4 * h, t * h * 4 * h, t * h * v]
    if spec.get("arch") == "gpt":  # per block: qkv, scores, weights @ values, out proj, MLP; then the head
        t, d, ff, v = spec["seq"], spec["d"], spec["ff"], spec["vocab"]
        block = [t * d * 3 * d, t * t * d, t * t * d, t * d * d, t * d * ff, t * ff * d]
        return block * spec["layers"] + [t * d * v]
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
    # language models over lm_data's windows: `steps` batches of `batch` sequences of `seq` tokens
    "W6": dict(data="markov", arch="lstm", vocab=65, emb=32, hidden=128, seq=32, loss="ce", batch=32, opt="adam",
               kw=dict(lr=2e-3), epochs=1, steps=20),
    "W7": dict(data="markov", arch="gpt", vocab=65, d=64, heads=4, layers=2, ff=256, seq=32, loss="ce", batch=16,
               opt="adamw", kw=dict(lr=1e-3, weight_decay=0.01), epochs=1, steps=20),
}


def dataset(spec, quick):
    if spec["data"] == "markov":
        return lm_data(spec, quick)
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


def compiled_step(lib, model, criterion, optimizer, flatten=None):
    """The loop body (forward, loss, zero_grad, backward, step) as one function compiled with
    lib.compile: the whole-step flavour of issue 13's benchmark (`flatten`: the vocabulary size of a
    language model, whose logits and targets are flattened for the loss)."""
    def step(xb, yb):
        out = model(xb)
        loss = criterion(out, yb) if flatten is None else criterion(out.reshape(-1, flatten), yb.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss
    return lib.compile(step)


class TorchStyleRun:
    """The classic loop, written once for `torch` and for `ember` (the module passed in)."""

    def __init__(self, lib, spec, quick):
        self.lib = lib
        x, y = dataset(spec, quick)
        nn = lib.nn
        self.x, self.y = lib.tensor(x), lib.tensor(y)
        ds = (lab_dataset(lib, self.x, self.y) if spec.get("custom_dataset")
              else lib.utils.data.TensorDataset(self.x, self.y))
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
        self.step = None

    def compile_step(self):
        self.step = compiled_step(self.lib, self.model, self.criterion, self.optimizer)

    def steps(self):
        model, criterion, optimizer = self.model, self.criterion, self.optimizer
        n = 0
        if self.step is not None:
            step = self.step
            for _ in range(self.epochs):
                for xb, yb in self.loader:
                    loss = step(xb, yb)
                    n += 1
            self.last = loss
            return n
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

    def steps(self):
        n = 0
        bs = self.batch
        for _ in range(self.epochs):
            for s in range(0, self.x.shape[-1], bs):
                out, cache = self._forward(self.x[..., s:s + bs])
                _, g = softmax_ce(out, self.y[s:s + bs])
                self._step(self._backward(cache, g))
                n += 1
        return n

    def loss(self):
        total, n = 0.0, self.x.shape[-1]
        for s in range(0, n, 256):  # in chunks: im2col of all the images at once is large
            yb = self.y[s:s + 256]
            total += softmax_ce(self._forward(self.x[..., s:s + 256])[0], yb)[0] * len(yb)
        return total / n


# ---------------------------------------------------------------- language models (W6, W7)
def lm_model(lib, spec):
    """W6's or W7's model as a torch user writes it, for `torch` or `ember` (the module passed in)."""
    nn = lib.nn

    class CharLSTM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(spec["vocab"], spec["emb"])
            self.lstm = nn.LSTM(spec["emb"], spec["hidden"], batch_first=True)
            self.head = nn.Linear(spec["hidden"], spec["vocab"])

        def forward(self, idx):
            h, _ = self.lstm(self.emb(idx))
            return self.head(h)

    class Block(nn.Module):
        def __init__(self, d, heads, ff):
            super().__init__()
            self.ln1 = nn.LayerNorm(d)
            self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
            self.ln2 = nn.LayerNorm(d)
            self.mlp = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))

        def forward(self, x, mask):
            h = self.ln1(x)
            x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
            return x + self.mlp(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            v, d, t = spec["vocab"], spec["d"], spec["seq"]
            self.tok = nn.Embedding(v, d)
            self.pos = nn.Embedding(t, d)
            self.blocks = nn.ModuleList([Block(d, spec["heads"], spec["ff"]) for _ in range(spec["layers"])])
            self.ln_f = nn.LayerNorm(d)
            self.head = nn.Linear(d, v)
            self.register_buffer("mask", lib.triu(lib.ones(t, t, dtype=lib.bool), diagonal=1))  # True: masked
            self.register_buffer("positions", lib.arange(t))

        def forward(self, idx):
            t = idx.shape[1]
            x = self.tok(idx) + self.pos(self.positions[:t])
            for block in self.blocks:
                x = block(x, self.mask[:t, :t])
            return self.head(self.ln_f(x))

    return CharLSTM() if spec["arch"] == "lstm" else GPT()


class TorchLMRun:
    """The classic loop over a language model's windows, written once for `torch` and for `ember`:
    logits at every position, flattened for CrossEntropyLoss."""

    def __init__(self, lib, spec, quick):
        self.lib = lib
        x, y = dataset(spec, quick)
        self.x, self.y = lib.tensor(x), lib.tensor(y)
        self.vocab = spec["vocab"]
        self.loader = lib.utils.data.DataLoader(lib.utils.data.TensorDataset(self.x, self.y),
                                                batch_size=spec["batch"], shuffle=False)
        self.model = lm_model(lib, spec)
        init = lstm_weights(spec) if spec["arch"] == "lstm" else gpt_weights(spec)
        with lib.no_grad():
            params = dict(self.model.named_parameters())
            assert sorted(params) == sorted(init), (sorted(params), sorted(init))
            for name, p in params.items():
                p.copy_(lib.tensor(init[name]))
        self.criterion = lib.nn.CrossEntropyLoss()
        opt = {"adam": lib.optim.Adam, "adamw": lib.optim.AdamW}[spec["opt"]]
        self.optimizer = opt(self.model.parameters(), **spec["kw"])
        self.epochs = 1 if quick else spec["epochs"]
        self.step = None

    def compile_step(self):
        self.step = compiled_step(self.lib, self.model, self.criterion, self.optimizer, self.vocab)

    def steps(self):
        model, criterion, optimizer, v = self.model, self.criterion, self.optimizer, self.vocab
        n = 0
        if self.step is not None:
            for _ in range(self.epochs):
                for xb, yb in self.loader:
                    self.step(xb, yb)
                    n += 1
            return n
        for _ in range(self.epochs):
            for xb, yb in self.loader:
                loss = criterion(model(xb).reshape(-1, v), yb.reshape(-1))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                n += 1
        return n

    def loss(self):
        with self.lib.no_grad():
            return float(self.criterion(self.model(self.x).reshape(-1, self.vocab), self.y.reshape(-1)).item())


class NumpyAdam:
    """torch's Adam (and AdamW: decoupled weight decay, p *= 1 - lr * wd, before the Adam update)
    over a list of float32 arrays, updated in place: m and v lerped, bias corrections, eps added to
    sqrt(v) / sqrt(1 - beta2^t) as torch does."""

    def __init__(self, params, lr, weight_decay=0.0, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.wd, self.betas, self.eps = params, lr, weight_decay, betas, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        b1, b2 = self.betas
        self.t += 1
        c1, c2 = 1 - b1 ** self.t, math.sqrt(1 - b2 ** self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            if self.wd:
                p *= 1 - self.lr * self.wd
            m += (g - m) * (1 - b1)
            v *= b2
            v += (1 - b2) * g * g
            d = np.sqrt(v)
            d /= c2
            d += self.eps
            p -= (self.lr / c1) * m / d


def softmax_ce(logits, y):
    """Mean cross-entropy of (n, classes) logits and its gradient with respect to them."""
    n = logits.shape[0]
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    s = e.sum(1, keepdims=True)
    loss = float(np.mean(np.log(s[:, 0]) - z[np.arange(n), y]))
    e /= s
    e[np.arange(n), y] -= 1
    e /= n
    return loss, e


def _sigmoid_(a):
    """In place: 1 / (1 + exp(-a)), torch's formula."""
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += 1
    np.reciprocal(a, out=a)


class _NumpyLMLoop:
    """The training loop of the hand-written language models (W6, W7): a subclass gives _loss(x, y) ->
    (loss, dlogits, cache) and _backward(x, cache, dlogits) -> gradients in the optimizer's order."""

    def steps(self):
        n, bs = 0, self.batch
        for _ in range(self.epochs):
            for s in range(0, len(self.x), bs):
                xb = self.x[s:s + bs]
                _, d, cache = self._loss(xb, self.y[s:s + bs])
                self.opt.step(self._backward(xb, cache, d))
                n += 1
        return n

    def loss(self):
        return self._loss(self.x, self.y)[0]


class NumpyLSTMRun(_NumpyLMLoop):
    """W6 by hand. Time-major: the embedding gather emb[x.T] gives (T, B, E); the input projection
    of all steps is one product, x @ W_ih^T + b_ih + b_hh, into a (T, B, 4H) buffer; each step adds
    h @ W_hh^T to its slice and turns it into the gates (i, f, g, o, torch's order) in place.
    Backpropagation through time walks the steps backwards, writing the gate pre-activations'
    gradients to a (T, B, 4H) buffer, so W_ih's, W_hh's and the biases' gradients are each one
    product (or sum) over all steps; the embedding's is np.add.at over the tokens. Adam as torch's."""

    def __init__(self, spec, quick):
        self.x, self.y = dataset(spec, quick)
        self.batch, self.vocab, self.h = spec["batch"], spec["vocab"], spec["hidden"]
        w = lstm_weights(spec)
        self.params = [w["emb.weight"], w["lstm.weight_ih_l0"], w["lstm.weight_hh_l0"], w["lstm.bias_ih_l0"],
                       w["lstm.bias_hh_l0"], w["head.weight"], w["head.bias"]]
        self.opt = NumpyAdam(self.params, **spec["kw"])
        self.epochs = 1 if quick else spec["epochs"]

    def _forward(self, x):
        emb, w_ih, w_hh, b_ih, b_hh, w_out, b_out = self.params
        t_len, b, h = x.shape[1], x.shape[0], self.h
        e = emb[x.T]  # (T, B, E)
        gates = (e.reshape(t_len * b, -1) @ w_ih.T).reshape(t_len, b, 4 * h)
        gates += b_ih
        gates += b_hh
        hs = np.zeros((t_len + 1, b, h), np.float32)  # hs[t], cs[t]: the state before step t
        cs = np.zeros((t_len + 1, b, h), np.float32)
        tcs = np.empty((t_len, b, h), np.float32)  # tanh(c) after each step
        w_hh_t = w_hh.T
        for t in range(t_len):
            z = gates[t]
            z += hs[t] @ w_hh_t
            _sigmoid_(z[:, :2 * h])
            np.tanh(z[:, 2 * h:3 * h], out=z[:, 2 * h:3 * h])
            _sigmoid_(z[:, 3 * h:])
            i, f, g, o = z[:, :h], z[:, h:2 * h], z[:, 2 * h:3 * h], z[:, 3 * h:]
            c = cs[t + 1]
            np.multiply(f, cs[t], out=c)
            c += i * g
            np.tanh(c, out=tcs[t])
            np.multiply(o, tcs[t], out=hs[t + 1])
        logits = hs[1:].reshape(t_len * b, h) @ w_out.T
        logits += b_out
        return logits, (e, gates, hs, cs, tcs)

    def _backward(self, x, cache, dlogits):
        emb, w_ih, w_hh, b_ih, b_hh, w_out, b_out = self.params
        e, gates, hs, cs, tcs = cache
        t_len, b, h = gates.shape[0], gates.shape[1], self.h
        hflat = hs[1:].reshape(t_len * b, h)
        g_out, gb_out = dlogits.T @ hflat, dlogits.sum(0)
        dh_out = (dlogits @ w_out).reshape(t_len, b, h)
        dz = np.empty_like(gates)
        dh = np.zeros((b, h), np.float32)  # from the next step
        dc = np.zeros((b, h), np.float32)
        for t in range(t_len - 1, -1, -1):
            z, d = gates[t], dz[t]
            i, f, g, o = z[:, :h], z[:, h:2 * h], z[:, 2 * h:3 * h], z[:, 3 * h:]
            dh += dh_out[t]
            tc = tcs[t]
            dc += dh * o * (1 - tc * tc)
            np.multiply(dh * tc, o * (1 - o), out=d[:, 3 * h:])
            np.multiply(dc * g, i * (1 - i), out=d[:, :h])
            np.multiply(dc * cs[t], f * (1 - f), out=d[:, h:2 * h])
            np.multiply(dc * i, 1 - g * g, out=d[:, 2 * h:3 * h])
            dc *= f
            if t:
                dh = d @ w_hh
        dzf = dz.reshape(t_len * b, 4 * h)
        g_hh = dzf.T @ hs[:-1].reshape(t_len * b, h)
        g_ih = dzf.T @ e.reshape(t_len * b, -1)
        g_b = dzf.sum(0)
        g_emb = np.zeros_like(emb)
        np.add.at(g_emb, x.T.ravel(), dzf @ w_ih)
        return [g_emb, g_ih, g_hh, g_b, g_b, g_out, gb_out]

    def _loss(self, x, y):
        logits, cache = self._forward(x)
        loss, d = softmax_ce(logits, y.T.ravel())  # logits are time-major
        return loss, d, cache



def _layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    xc = x - mu
    rstd = 1 / np.sqrt((xc * xc).mean(-1, keepdims=True) + eps)
    xc *= rstd  # x hat
    y = xc * w
    y += b
    return y, (xc, rstd)


def _layer_norm_back(dy, w, cache):
    xhat, rstd = cache
    gw, gb = (dy * xhat).sum(0), dy.sum(0)
    dxh = dy * w
    dx = dxh - dxh.mean(-1, keepdims=True)
    dx -= xhat * (dxh * xhat).mean(-1, keepdims=True)
    dx *= rstd
    return dx, gw, gb


class NumpyGPTRun(_NumpyLMLoop):
    """W7 by hand. The residual stream is (B*T, D). Per block: LayerNorm; the packed qkv product
    with MultiheadAttention's layout (in_proj_weight [3D, D], rows q, k, v); q, k, v as
    (B, heads, T, head_dim) views of it; scores q @ k^T / sqrt(head_dim) plus a (T, T) additive
    mask (-inf above the diagonal); a row softmax; weights @ v; out_proj; LayerNorm, Linear, GELU
    (0.5 u (1 + erf(u / sqrt 2)), scipy.special.erf), Linear; residual adds. Backward by hand in
    reverse, the embeddings' gradients by np.add.at (tokens) and a sum over the batch (positions).
    AdamW as torch's."""

    def __init__(self, spec, quick):
        from scipy.special import erf
        self.erf = erf
        self.x, self.y = dataset(spec, quick)
        self.spec, self.batch = spec, spec["batch"]
        w = gpt_weights(spec)
        self.names = list(w)
        self.w = w  # name -> array; the optimizer updates them in place
        self.opt = NumpyAdam(list(w.values()), **spec["kw"])
        t = spec["seq"]
        self.mask = np.triu(np.full((t, t), -np.inf, np.float32), 1)
        self.epochs = 1 if quick else spec["epochs"]

    def _forward(self, idx):
        w, sp, erf = self.w, self.spec, self.erf
        b, t = idx.shape
        d, nh = sp["d"], sp["heads"]
        hd = d // nh
        scale = np.float32(1 / math.sqrt(hd))
        x = (w["tok.weight"][idx] + w["pos.weight"][:t]).reshape(b * t, d)
        caches = []
        for li in range(sp["layers"]):
            p = f"blocks.{li}."
            h, ln1 = _layer_norm(x, w[p + "ln1.weight"], w[p + "ln1.bias"])
            qkv = h @ w[p + "attn.in_proj_weight"].T
            qkv += w[p + "attn.in_proj_bias"]
            q, k, v = qkv.reshape(b, t, 3, nh, hd).transpose(2, 0, 3, 1, 4)  # each (B, nh, T, hd)
            s = q @ k.transpose(0, 1, 3, 2)
            s *= scale
            s += self.mask
            s -= s.max(-1, keepdims=True)
            np.exp(s, out=s)
            s /= s.sum(-1, keepdims=True)
            att = (s @ v).transpose(0, 2, 1, 3).reshape(b * t, d)
            a = att @ w[p + "attn.out_proj.weight"].T
            a += w[p + "attn.out_proj.bias"]
            x = x + a
            h2, ln2 = _layer_norm(x, w[p + "ln2.weight"], w[p + "ln2.bias"])
            u = h2 @ w[p + "mlp.0.weight"].T
            u += w[p + "mlp.0.bias"]
            phi = erf(u * np.float32(1 / math.sqrt(2)))
            phi += 1
            phi *= 0.5
            gl = u * phi
            m = gl @ w[p + "mlp.2.weight"].T
            m += w[p + "mlp.2.bias"]
            x = x + m
            caches.append((h, ln1, q, k, v, s, att, h2, ln2, u, phi, gl))
        hf, lnf = _layer_norm(x, w["ln_f.weight"], w["ln_f.bias"])
        logits = hf @ w["head.weight"].T
        logits += w["head.bias"]
        return logits, (hf, lnf, caches)

    def _backward(self, idx, cache, dlogits):
        w, sp = self.w, self.spec
        b, t = idx.shape
        d, nh = sp["d"], sp["heads"]
        hd = d // nh
        scale = np.float32(1 / math.sqrt(hd))
        hf, lnf, caches = cache
        g = {"head.weight": dlogits.T @ hf, "head.bias": dlogits.sum(0)}
        dx, g["ln_f.weight"], g["ln_f.bias"] = _layer_norm_back(dlogits @ w["head.weight"], w["ln_f.weight"], lnf)
        for li in range(sp["layers"] - 1, -1, -1):
            p = f"blocks.{li}."
            h, ln1, q, k, v, s, att, h2, ln2, u, phi, gl = caches[li]
            # MLP: x += Linear2(gelu(Linear1(ln2(x))))
            g[p + "mlp.2.weight"], g[p + "mlp.2.bias"] = dx.T @ gl, dx.sum(0)
            du = dx @ w[p + "mlp.2.weight"]
            dgelu = u * u
            dgelu *= -0.5
            np.exp(dgelu, out=dgelu)
            dgelu *= np.float32(1 / math.sqrt(2 * math.pi))
            dgelu *= u
            dgelu += phi
            du *= dgelu
            g[p + "mlp.0.weight"], g[p + "mlp.0.bias"] = du.T @ h2, du.sum(0)
            dh2, g[p + "ln2.weight"], g[p + "ln2.bias"] = _layer_norm_back(du @ w[p + "mlp.0.weight"],
                                                                            w[p + "ln2.weight"], ln2)
            dx += dh2
            # attention: x += out_proj(softmax(q k^T / sqrt(hd) + mask) v)
            g[p + "attn.out_proj.weight"], g[p + "attn.out_proj.bias"] = dx.T @ att, dx.sum(0)
            datt = (dx @ w[p + "attn.out_proj.weight"]).reshape(b, t, nh, hd).transpose(0, 2, 1, 3)
            dqkv = np.empty((3, b, nh, t, hd), np.float32)
            dqkv[2] = s.transpose(0, 1, 3, 2) @ datt
            ds = datt @ v.transpose(0, 1, 3, 2)
            ds -= (ds * s).sum(-1, keepdims=True)
            ds *= s
            ds *= scale
            dqkv[0] = ds @ k
            dqkv[1] = ds.transpose(0, 1, 3, 2) @ q
            dqkv = dqkv.transpose(1, 3, 0, 2, 4).reshape(b * t, 3 * d)
            g[p + "attn.in_proj_weight"], g[p + "attn.in_proj_bias"] = dqkv.T @ h, dqkv.sum(0)
            dh, g[p + "ln1.weight"], g[p + "ln1.bias"] = _layer_norm_back(dqkv @ w[p + "attn.in_proj_weight"],
                                                                           w[p + "ln1.weight"], ln1)
            dx += dh
        dx = dx.reshape(b, t, d)
        g["pos.weight"] = np.zeros_like(w["pos.weight"])
        g["pos.weight"][:t] = dx.sum(0)
        g["tok.weight"] = np.zeros_like(w["tok.weight"])
        np.add.at(g["tok.weight"], idx.ravel(), dx.reshape(b * t, d))
        return [g[n] for n in self.names]

    def _loss(self, x, y):
        logits, cache = self._forward(x)
        loss, d = softmax_ce(logits, y.ravel())
        return loss, d, cache



def available(flavor):
    try:
        importlib.import_module("ember" if flavor == "ember" else flavor)
        return True
    except ImportError:
        return False


def step_flops(wid):
    """Floating-point operations of one training step's products (forward, and backward without
    the first layer's input gradient; a conv counted as its im2col product; W6's recurrence and
    W7's attention products counted as computed, W7's masked half of the scores included): what
    W4's to W7's GFLOP/s are computed from."""
    spec = SPECS[wid]
    macs = layer_macs(spec)
    # W6's and W7's first products need their input gradient too (for the embeddings')
    first_input_grad = spec.get("arch") in ("lstm", "gpt")
    return 2 * spec["batch"] * (3 * sum(macs) - (0 if first_input_grad else macs[0]))


def fresh_loss(wid, flavor, quick=False):
    """The training loss after one pass (`steps()`) of a freshly built run."""
    run = build(wid, flavor, quick)
    run.steps()
    return run.loss()


def build(wid, flavor, quick=False):
    spec = SPECS[wid]
    arch = spec.get("arch")
    if flavor == "numpy":
        return {"lenet": NumpyLeNetRun, "lstm": NumpyLSTMRun, "gpt": NumpyGPTRun}.get(arch, NumpyRun)(spec, quick)
    lib = importlib.import_module(flavor)
    return (TorchLMRun if arch in ("lstm", "gpt") else TorchStyleRun)(lib, spec, quick)
