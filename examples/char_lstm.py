"""A character-level LSTM language model (Embedding -> LSTM -> Linear) trained with Adam on a short
text, with CrossEntropyLoss over every position (plain torch code).

The text is fixed, the batches are cut from it at fixed offsets and the initial weights come from
integer arithmetic: no random number generator is used, so the printed numbers are the same under
torch and under ember (`ember.install_as_torch()`).
"""
import torch
import torch.nn as nn

TEXT = ("the quick brown fox jumps over the lazy dog. a small model learns the next character of a "
        "short text by reading it again and again, one batch of windows at a time. ") * 4


class CharLSTM(nn.Module):
    def __init__(self, vocab, embed=16, hidden=48):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        h, state = self.lstm(self.embed(x), state)
        return self.head(h), state


def fixed_values(n, k):
    """n numbers in [-1, 1) from integer arithmetic: a fixed stand-in for random initial weights."""
    i = torch.arange(n) + 100000 * k
    return ((7 * i * i + 13 * i) % 1009).float() / 504.5 - 1.0


def init_weights(model):
    with torch.no_grad():
        for k, (name, p) in enumerate(model.named_parameters()):
            scale = 1.0 if name.startswith("embed") else 0.15
            p.copy_(scale * fixed_values(p.numel(), k).view_as(p))


def batches(ids, seq_len=24, batch=8, stride=13):
    """(inputs, targets) pairs: windows of the text at fixed offsets, targets shifted by one."""
    starts = list(range(0, len(ids) - seq_len - 1, stride))
    for b in range(0, len(starts) - batch + 1, batch):
        idx = torch.tensor(starts[b:b + batch])
        windows = torch.stack([ids[s:s + seq_len + 1] for s in idx.tolist()])
        yield windows[:, :-1], windows[:, 1:]


def main(epochs=3):
    chars = sorted(set(TEXT))
    ids = torch.tensor([chars.index(c) for c in TEXT])
    model = CharLSTM(len(chars))
    init_weights(model)
    print("vocabulary:", len(chars), "parameters:", sum(p.numel() for p in model.parameters()))
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for epoch in range(epochs):
        total, n = 0.0, 0
        for x, y in batches(ids):
            logits, _ = model(x)
            loss = criterion(logits.reshape(-1, len(chars)), y.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
            n += 1
        print(f"epoch {epoch + 1} loss {total / n:.4f}")
    with torch.no_grad():
        x, y = next(batches(ids))
        logits, (h, c) = model(x)
        acc = (logits.argmax(-1) == y).float().mean().item()
    print(f"next-character accuracy {acc:.3f} state {tuple(h.shape)} {tuple(c.shape)}")


if __name__ == "__main__":
    main()
