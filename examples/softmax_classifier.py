"""Softmax classification of three classes with CrossEntropyLoss and SGD (plain torch code).

Points on three arcs of a wobbly circle; a linear layer followed by CrossEntropyLoss (which
applies log-softmax itself). Data and initial weights come from fixed formulas, no RNG.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


def make_data(n=90):
    t = torch.arange(0.0, n)
    angle = t * (2 * math.pi / n)
    radius = 1.0 + 0.3 * torch.sin(5 * t)
    x = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)
    y = torch.tensor([3 * i // n for i in range(n)])
    return x, y


class SoftmaxClassifier(nn.Module):
    def __init__(self, n_inputs, n_classes):
        super().__init__()
        self.linear = nn.Linear(n_inputs, n_classes)

    def forward(self, x):
        return self.linear(x)


def main(epochs=15, lr=0.2):
    x, y = make_data()
    model = SoftmaxClassifier(2, 3)
    state = model.state_dict()
    state["linear.weight"].copy_(0.1 * torch.sin(torch.arange(0.0, 6)).view(3, 2))
    state["linear.bias"].copy_(torch.tensor([0.0, 0.1, -0.1]))
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(x, y), batch_size=15, shuffle=False)
    print("batches per epoch:", len(loader))
    for epoch in range(epochs):
        losses = []
        for xb, yb in loader:
            logits = model(xb)
            loss = criterion(logits, yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        with torch.no_grad():
            logits = model(x)
            full_loss = criterion(logits, y).item()
            acc = (logits.argmax(dim=1) == y).float().mean().item()
        if epoch % 3 == 2 or epoch == 0:
            print(f"epoch {epoch:2d} mean batch loss {sum(losses) / len(losses):.6f} "
                  f"full loss {full_loss:.6f} accuracy {acc:.4f}")
    with torch.no_grad():
        probs = F.softmax(model(x[::30]), dim=1)
    for row in probs.tolist():
        print("probs", " ".join(f"{p:.6f}" for p in row))
    print("weights", " ".join(f"{v:.6f}" for v in model.linear.weight.detach().view(-1).tolist()))


if __name__ == "__main__":
    main()
