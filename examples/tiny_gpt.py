"""A tiny GPT (token and position embeddings, two pre-norm blocks of causal self-attention and an
MLP, a linear head) trained with AdamW on a short text (plain torch code, nanoGPT-style).

The text is fixed, the batches are cut from it at fixed offsets and the initial weights come from
integer arithmetic: no random number generator is used (dropout is 0), so the printed numbers are
the same under torch and under ember (`ember.install_as_torch()`).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

TEXT = ("to be or not to be, that is the question: whether it is nobler in the mind to suffer the "
        "slings and arrows of outrageous fortune, or to take arms against a sea of troubles. ") * 3


class Block(nn.Module):
    def __init__(self, d_model, n_head, block_size):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_head, batch_first=True)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))
        mask = torch.triu(torch.ones(block_size, block_size, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask)  # True: may not attend (a later position)

    def forward(self, x):
        t = x.size(1)
        h = self.ln1(x)
        a, _ = self.attn(h, h, h, attn_mask=self.mask[:t, :t], need_weights=False)
        x = x + a
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    def __init__(self, vocab, d_model=32, n_head=4, n_layer=2, block_size=24):
        super().__init__()
        self.tok = nn.Embedding(vocab, d_model)
        self.pos = nn.Embedding(block_size, d_model)
        self.blocks = nn.ModuleList([Block(d_model, n_head, block_size) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab)

    def forward(self, idx):
        pos = torch.arange(idx.size(1))
        x = self.tok(idx) + self.pos(pos)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


def fixed_values(n, k):
    """n numbers in [-1, 1) from integer arithmetic: a fixed stand-in for random initial weights."""
    i = torch.arange(n) + 100000 * k
    return ((7 * i * i + 13 * i) % 1009).float() / 504.5 - 1.0


def init_weights(model):
    with torch.no_grad():
        for k, (name, p) in enumerate(model.named_parameters()):
            if name.endswith("bias"):
                p.zero_()
            elif "ln" in name:
                p.fill_(1.0)
            else:
                p.copy_(0.08 * fixed_values(p.numel(), k).view_as(p))


def batches(ids, block_size=24, batch=8, stride=11):
    starts = list(range(0, len(ids) - block_size - 1, stride))
    for b in range(0, len(starts) - batch + 1, batch):
        windows = torch.stack([ids[s:s + block_size + 1] for s in starts[b:b + batch]])
        yield windows[:, :-1], windows[:, 1:]


def main(epochs=3):
    chars = sorted(set(TEXT))
    ids = torch.tensor([chars.index(c) for c in TEXT])
    model = TinyGPT(len(chars))
    init_weights(model)
    print("vocabulary:", len(chars), "parameters:", sum(p.numel() for p in model.parameters()))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    for epoch in range(epochs):
        total, n = 0.0, 0
        for x, y in batches(ids):
            logits = model(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), y.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item()
            n += 1
        print(f"epoch {epoch + 1} loss {total / n:.4f}")
    model.eval()
    with torch.no_grad():
        x, y = next(batches(ids))
        acc = (model(x).argmax(-1) == y).float().mean().item()
    print(f"next-character accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
