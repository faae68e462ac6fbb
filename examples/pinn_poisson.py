"""A physics-informed network: u'' = -sin(x) on [0, pi] with u(0) = u(pi) = 0 (solution sin x).
The residual needs the second derivative of the network in its input: two autograd.grad calls with
create_graph=True, then the loss's backward goes through both. Fixed initial weights."""
import math

import torch
import torch.nn as nn

torch.set_default_dtype(torch.float64)
net = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 1))
with torch.no_grad():  # fixed weights, not torch's random stream
    for k, p in enumerate(net.parameters()):
        n = p.numel()
        p.copy_(torch.tensor([math.sin(1.3 * (k + 1) * (i + 1)) * 0.6 for i in range(n)]).reshape(p.shape))

x = torch.linspace(0, math.pi, 32).reshape(-1, 1).requires_grad_(True)
ends = torch.tensor([[0.0], [math.pi]])
opt = torch.optim.Adam(net.parameters(), lr=0.01)
for step in range(301):
    u = net(x)
    du, = torch.autograd.grad(u.sum(), x, create_graph=True)
    d2u, = torch.autograd.grad(du.sum(), x, create_graph=True)
    residual = d2u + torch.sin(x)
    loss = residual.pow(2).mean() + net(ends).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 50 == 0:
        print(f"step {step:3d}  loss {loss.item():.6f}")
with torch.no_grad():
    xs = torch.linspace(0, math.pi, 5).reshape(-1, 1)
    print("u(x)  ", [round(v, 4) for v in net(xs).flatten().tolist()])
    print("sin(x)", [round(v, 4) for v in torch.sin(xs).flatten().tolist()])
