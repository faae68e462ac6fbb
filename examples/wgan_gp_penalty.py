"""The gradient penalty of WGAN-GP on a small 2-D problem: a critic trained to tell two Gaussian
blobs apart, with ((|grad_x D(x_hat)| - 1)^2) on points between the two sets. The penalty is a
function of a gradient (create_graph=True); its backward reaches the critic's weights through it.
Fixed data and initial weights."""
import math

import torch
import torch.nn as nn

n = 64
angles = torch.tensor([2 * math.pi * i / n for i in range(n)])
real = torch.stack([1.5 + 0.3 * torch.cos(angles), 0.3 * torch.sin(3 * angles)], 1)
fake = torch.stack([-1.0 + 0.4 * torch.sin(2 * angles), 0.5 * torch.cos(angles)], 1)
mix = torch.tensor([(i % 7) / 6 for i in range(n)]).reshape(-1, 1)

critic = nn.Sequential(nn.Linear(2, 32), nn.LeakyReLU(0.2), nn.Linear(32, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
with torch.no_grad():
    for k, p in enumerate(critic.parameters()):
        p.copy_(torch.tensor([math.cos(0.7 * (k + 2) * (i + 1)) * 0.4 for i in range(p.numel())]).reshape(p.shape))
opt = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9))
for step in range(201):
    x_hat = (mix * real + (1 - mix) * fake).requires_grad_(True)
    grads, = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    penalty = ((grads.norm(2, dim=1) - 1) ** 2).mean()
    loss = critic(fake).mean() - critic(real).mean() + 10 * penalty
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 40 == 0:
        print(f"step {step:3d}  wasserstein {(critic(real).mean() - critic(fake).mean()).item():.5f}  "
              f"penalty {penalty.item():.5f}")
