"""A small MLP (nn.Sequential of Linear/ReLU/Linear) fitted to sin(2x) with SGD momentum,
then again with Nesterov momentum (plain torch code).

Initial weights are set from fixed formulas through named_parameters(), data is a formula:
no random number generator is involved.
"""
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def make_model():
    model = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 1))
    with torch.no_grad():
        for k, (name, p) in enumerate(model.named_parameters()):
            values = 0.5 * torch.sin(torch.arange(0.0, p.numel()) * 1.3 + k)
            p.copy_(values.view_as(p))
    return model


def train(nesterov, epochs=12):
    x = torch.linspace(-2, 2, 48).view(-1, 1)
    y = torch.sin(2 * x)
    model = make_model()
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=nesterov)
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=False)
    for epoch in range(epochs):
        total = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item()
        if epoch % 3 == 2 or epoch == 0:
            with torch.no_grad():
                full = criterion(model(x), y).item()
            print(f"nesterov={nesterov} epoch {epoch:2d} train {total / len(loader):.6f} full {full:.6f}")
    buf = optimizer.state[model[2].weight]["momentum_buffer"]
    print(f"nesterov={nesterov} |momentum buffer| {(buf * buf).sum().sqrt().item():.6f} "
          f"out bias {model[2].bias.item():.6f}")
    with torch.no_grad():
        pred = model(torch.tensor([[-1.0], [0.0], [1.0]])).view(-1)
    print("predictions", " ".join(f"{v:.6f}" for v in pred.tolist()))


if __name__ == "__main__":
    print(make_model())
    train(nesterov=False)
    train(nesterov=True)
