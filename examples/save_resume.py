"""Save-and-resume training: train a few epochs, save model and optimizer state dicts with
torch.save, build a fresh model and optimizer, torch.load both and continue. The resumed losses
equal those of an uninterrupted run (plain torch code, no random number generator).
"""
import os
import tempfile

import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset


def make_data():
    t = torch.arange(0.0, 32)
    x = torch.stack([torch.sin(0.5 * t), torch.cos(0.3 * t), torch.sin(0.11 * t + 1)], dim=1)
    y = (x[:, 0] * x[:, 1] - 0.3 * x[:, 2]).view(-1, 1)
    return x, y


def make_model(scale=1.0):
    model = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))
    with torch.no_grad():
        for k, p in enumerate(model.parameters()):
            p.copy_(scale * 0.4 * torch.cos(torch.arange(0.0, p.numel()) * 0.7 + k).view_as(p))
    return model


def run_epochs(model, optimizer, loader, epochs):
    criterion = nn.MSELoss()
    losses = []
    for _ in range(epochs):
        total = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item()
        losses.append(total / len(loader))
    return losses


def main():
    x, y = make_data()
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=False)

    model = make_model()
    opt = optim.Adam(model.parameters(), lr=0.01)
    full = run_epochs(model, opt, loader, 8)
    print("uninterrupted:", " ".join(f"{v:.6f}" for v in full))

    model = make_model()
    opt = optim.Adam(model.parameters(), lr=0.01)
    first = run_epochs(model, opt, loader, 4)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "checkpoint.pt")
        torch.save({"epoch": 4, "model": model.state_dict(), "optim": opt.state_dict()}, path)
        del model, opt
        checkpoint = torch.load(path)
    model = make_model(scale=0.0)  # different weights: loading must overwrite them
    opt = optim.Adam(model.parameters(), lr=0.5)  # different lr: loading must restore it
    print(model.load_state_dict(checkpoint["model"]))
    opt.load_state_dict(checkpoint["optim"])
    print("restored epoch", checkpoint["epoch"], "lr", opt.param_groups[0]["lr"],
          "step", int(opt.state_dict()["state"][0]["step"]))
    second = run_epochs(model, opt, loader, 4)
    resumed = first + second
    print("resumed:      ", " ".join(f"{v:.6f}" for v in resumed))
    print("identical:", resumed == full)


if __name__ == "__main__":
    main()
