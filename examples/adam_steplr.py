"""Adam with a StepLR learning-rate schedule on a two-feature regression (plain torch code).

Prints the loss and scheduler.get_last_lr() every epoch. Data and initial weights are fixed
formulas; no random number generator is used.
"""
import torch
from torch import nn, optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset


def main(epochs=20):
    t = torch.arange(0.0, 40)
    x = torch.stack([torch.sin(0.3 * t), torch.cos(0.7 * t)], dim=1)
    y = (torch.tanh(1.5 * x[:, :1] - 0.5 * x[:, 1:]) + 0.2).view(-1, 1)
    model = nn.Sequential(nn.Linear(2, 6), nn.Tanh(), nn.Linear(6, 1))
    with torch.no_grad():
        model[0].weight.copy_(0.4 * torch.cos(torch.arange(0.0, 12)).view(6, 2))
        model[0].bias.copy_(0.1 * torch.arange(0.0, 6) - 0.25)
        model[2].weight.copy_(0.3 * torch.sin(torch.arange(0.0, 6) + 1).view(1, 6))
        model[2].bias.zero_()
    criterion = nn.MSELoss()
    optimizer = optim.Adam(model.parameters(), lr=0.05)
    scheduler = StepLR(optimizer, step_size=5, gamma=0.5)
    loader = DataLoader(TensorDataset(x, y), batch_size=10)
    print(f"initial lr {scheduler.get_last_lr()[0]:.6f}")
    for epoch in range(epochs):
        total = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item()
        scheduler.step()
        print(f"epoch {epoch:2d} loss {total / len(loader):.6f} next lr {scheduler.get_last_lr()[0]:.6f} "
              f"group lr {optimizer.param_groups[0]['lr']:.6f}")
    state = optimizer.state_dict()
    print("optimizer state entries:", len(state["state"]), "step:", int(state["state"][0]["step"]))
    print("scheduler last_epoch:", scheduler.state_dict()["last_epoch"])


if __name__ == "__main__":
    main()
