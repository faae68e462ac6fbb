"""Logistic regression with nn.Linear + sigmoid, BCELoss and SGD, written as plain torch code.

The data and the initial weights come from fixed formulas (no random number generator), so the
printed numbers are the same under torch and under ember (`ember.install_as_torch()`).
"""
import torch
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset


def make_data(n=64):
    t = torch.arange(0.0, n)
    x = torch.stack([torch.sin(0.37 * t), torch.cos(0.91 * t)], dim=1)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0.1).to(x.dtype).view(-1, 1)
    return x, y


class LogisticRegression(nn.Module):
    def __init__(self, n_inputs):
        super().__init__()
        self.linear = nn.Linear(n_inputs, 1)

    def forward(self, x):
        return torch.sigmoid(self.linear(x))


def main(epochs=20, lr=0.5):
    x, y = make_data()
    model = LogisticRegression(2)
    with torch.no_grad():
        model.linear.weight.copy_(torch.tensor([[0.1, -0.2]]))
        model.linear.bias.fill_(0.05)
    criterion = nn.BCELoss()
    optimizer = optim.SGD(model.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=False)
    for epoch in range(epochs):
        total = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * xb.shape[0]
        if epoch % 4 == 3 or epoch == 0:
            with torch.no_grad():
                prob = model(x)
                acc = ((prob > 0.5).float() == y).float().mean().item()
            w = model.linear.weight.detach()
            print(f"epoch {epoch:2d} loss {total / len(x):.6f} acc {acc:.4f} "
                  f"w=({w[0, 0].item():.6f}, {w[0, 1].item():.6f}) b={model.linear.bias.item():.6f}")
    with torch.no_grad():
        p = model(x[:4]).view(-1)
    print("first probabilities:", " ".join(f"{v:.6f}" for v in p.tolist()))


if __name__ == "__main__":
    main()
