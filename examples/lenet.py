"""LeNet-5 trained on synthetic 28x28 "digits" with a custom Dataset, a DataLoader,
CrossEntropyLoss and SGD with momentum (plain torch code).

Each "digit" is a stroke through the middle of the image, at one of ten angles (the class),
shifted, tilted and textured a little differently in every sample. The images come from
sin/cos/exp formulas of the sample's index, and the initial weights from integer arithmetic:
no random number generator is used, so the printed numbers are the same under torch and under
ember (`ember.install_as_torch()`).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset


class StrokeDigits(Dataset):
    """n images of shape (1, 28, 28); sample i has label i % 10 (the stroke's angle)."""

    def __init__(self, n, start=0):
        i = torch.arange(start, start + n).float().view(-1, 1, 1)
        self.labels = torch.arange(start, start + n) % 10
        angle = self.labels.float().view(-1, 1, 1) * (math.pi / 10) + 0.08 * torch.sin(1.3 * i)
        cy = 13.5 + 2.0 * torch.sin(0.7 * i)
        cx = 13.5 + 2.0 * torch.cos(0.9 * i)
        yy = torch.arange(28.0).view(1, 28, 1) - cy
        xx = torch.arange(28.0).view(1, 1, 28) - cx
        across = xx * torch.sin(angle) - yy * torch.cos(angle)  # distance from the stroke's line
        along = xx * torch.cos(angle) + yy * torch.sin(angle)
        stroke = torch.exp(-across ** 2 / 2.0 - (along / 9.0) ** 4)
        texture = 0.2 * torch.sin(0.8 * xx + 1.7 * i) * torch.cos(0.6 * yy + 0.3 * i)
        self.images = ((stroke + texture - 0.1) / 0.3).unsqueeze(1)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]


class LeNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # 6 x 14 x 14
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 16 x 5 x 5
        x = x.view(x.size(0), -1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def fixed_values(n, k):
    """n numbers in [-1, 1) from integer arithmetic (a quadratic sequence modulo a prime): a fixed
    stand-in for random initial weights."""
    i = torch.arange(n) + 100000 * k
    return ((7 * i * i + 13 * i) % 1009).float() / 504.5 - 1.0


def init_weights(model):
    """Every layer's weights spread over He's uniform bound for ReLU networks, sqrt(6 / fan_in)
    (what nn.init.kaiming_uniform_ draws from), and its biases over torch's default bias bound,
    1 / sqrt(fan_in). With torch's default weight bound, five times smaller, LeNet sits on its
    initial plateau (loss ~2.3) for most of these two epochs."""
    with torch.no_grad():
        for k, layer in enumerate([model.conv1, model.conv2, model.fc1, model.fc2, model.fc3]):
            fan_in = layer.weight[0].numel()
            w = fixed_values(layer.weight.numel(), 2 * k).view_as(layer.weight)
            layer.weight.copy_(math.sqrt(6.0 / fan_in) * w)
            layer.bias.copy_(fixed_values(layer.bias.numel(), 2 * k + 1) / math.sqrt(fan_in))


def accuracy(model, loader):
    correct = 0
    with torch.no_grad():
        for images, labels in loader:
            correct += (model(images).argmax(dim=1) == labels).sum().item()
    return correct / len(loader.dataset)


def main(epochs=2):
    train_loader = DataLoader(StrokeDigits(640), batch_size=32, shuffle=False)
    test_loader = DataLoader(StrokeDigits(200, start=5000), batch_size=100)
    model = LeNet()
    init_weights(model)
    print("parameters:", sum(p.numel() for p in model.parameters()))
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.004, momentum=0.9)
    for epoch in range(epochs):
        model.train()
        total = 0.0
        for images, labels in train_loader:
            optimizer.zero_grad()
            loss = criterion(model(images), labels)
            loss.backward()
            optimizer.step()
            total += loss.item() * images.size(0)
        model.eval()
        print(f"epoch {epoch + 1} loss {total / len(train_loader.dataset):.4f}")
    print(f"train accuracy {accuracy(model, train_loader):.4f} test accuracy {accuracy(model, test_loader):.4f}")


if __name__ == "__main__":
    main()
