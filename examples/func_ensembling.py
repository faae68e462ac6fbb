"""torch.func's model-ensembling tutorial, with fixed data and initial weights."""
import copy

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap


class SimpleMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 128)
        self.fc2 = nn.Linear(128, 128)
        self.fc3 = nn.Linear(128, 10)

    def forward(self, x):
        x = x.flatten(1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.fc2(x)
        x = F.relu(x)
        x = self.fc3(x)
        return x


def fixed(shape, k):
    n = 1
    for s in shape:
        n *= s
    return (torch.sin(torch.arange(n, dtype=torch.float32) * (0.37 + 0.01 * k)) * 0.05).reshape(shape)


num_models = 10
data = fixed((100, 64, 1, 28, 28), 0) * 20
targets = (torch.arange(6400) * 7) % 10
models = []
for m in range(num_models):
    model = SimpleMLP()
    with torch.no_grad():
        for j, p in enumerate(model.parameters()):
            p.copy_(fixed(tuple(p.shape), 10 * m + j))
    models.append(model)

minibatches = data[:num_models]
predictions_diff_minibatch_loop = [model(minibatch) for model, minibatch in zip(models, minibatches)]
minibatch = data[0]
predictions2 = [model(minibatch) for model in models]

params, buffers = stack_module_state(models)
base_model = copy.deepcopy(models[0])
base_model = base_model.to("meta")


def fmodel(params, buffers, x):
    return functional_call(base_model, (params, buffers), (x,))


predictions1_vmap = vmap(fmodel)(params, buffers, minibatches)
assert torch.allclose(predictions1_vmap, torch.stack(predictions_diff_minibatch_loop), atol=1e-3, rtol=1e-5)
predictions2_vmap = vmap(fmodel, in_dims=(0, 0, None))(params, buffers, minibatch)
assert torch.allclose(predictions2_vmap, torch.stack(predictions2), atol=1e-3, rtol=1e-5)
print(predictions1_vmap.shape, f"{predictions1_vmap.sum().item():.4f}", f"{predictions2_vmap.abs().sum().item():.4f}")
loss = F.cross_entropy(predictions1_vmap.flatten(0, 1), targets[:640])
loss.backward()
print(f"{loss.item():.5f}", {k: f"{v.grad.norm().item():.5f}" for k, v in params.items()})
