"""64 small MLPs trained at once with torch.func, one learning rate each, and the best one picked.

The torch.func ensembling recipe: the 64 models' parameters stacked (stack_module_state), one
forward over all of them (vmap over functional_call), one loss and one backward, and an SGD
momentum update over the stacked tensors with a learning rate per model. Data and initial weights
are fixed formulas, so torch and ember print the same numbers.
"""
import copy
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

N_MODELS, STEPS, BATCH = 64, 100, 32


def spiral(n):
    xs, ys = [], []
    for i in range(n):
        c = i % 3
        r = (i // 3) / (n / 3)
        t = c * 4 + 4 * r + 0.2 * math.sin(37.0 * i)
        xs.append([r * math.sin(t), r * math.cos(t)])
        ys.append(c)
    return torch.tensor(xs), torch.tensor(ys)


def fixed(shape, k):
    n = 1
    for s in shape:
        n *= s
    scale = 1.0 / math.sqrt(shape[-1])
    return (torch.sin(torch.arange(n, dtype=torch.float32) * (0.61 + 0.013 * k)) * scale).reshape(shape)


def make_model(k):
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3))
    with torch.no_grad():
        for j, p in enumerate(model.parameters()):
            p.copy_(fixed(tuple(p.shape), 7 * k + j))
    return model


x, y = spiral(1024)
order = (torch.arange(1024) * 577) % 1024  # a fixed shuffle
x, y = x[order], y[order]
models = [make_model(k) for k in range(N_MODELS)]
params, buffers = stack_module_state(models)
base = copy.deepcopy(models[0]).to("meta")
lrs = torch.logspace(-3, -0.5, N_MODELS)  # 0.001 ... 0.32
momentum = {k: torch.zeros_like(p) for k, p in params.items()}


def fmodel(p, b, inputs):
    return functional_call(base, (p, b), (inputs,))


def losses_of(logits, targets):  # one loss per model
    return F.cross_entropy(logits.flatten(0, 1), targets.repeat(N_MODELS), reduction="none").view(N_MODELS, -1).mean(1)


for step in range(STEPS):
    start = (step * BATCH) % len(x)
    xb, yb = x[start:start + BATCH], y[start:start + BATCH]
    logits = vmap(fmodel, in_dims=(0, 0, None))(params, buffers, xb)  # (models, batch, classes)
    losses = losses_of(logits, yb)
    losses.sum().backward()
    with torch.no_grad():
        for k, p in params.items():
            buf = momentum[k].mul_(0.9).add_(p.grad)
            p.sub_(lrs.view(-1, *[1] * (p.dim() - 1)) * buf)
            p.grad = None
    if step % 25 == 0:
        print(f"step {step:2d}: median loss {losses.median().item():.4f}, best {losses.min().item():.4f}")

with torch.no_grad():
    final = losses_of(vmap(fmodel, in_dims=(0, 0, None))(params, buffers, x[:512]), y[:512])
best = int(final.argmin())
print(f"best learning rate {lrs[best].item():.4f} (model {best}): loss {final[best].item():.4f}")
print("losses at the 1st, 16th, 32nd and 48th learning rate:", [f"{final[i].item():.4f}" for i in (0, 15, 31, 47)])
