"""Linear regression trained with ember's tensors and autograd, the way the classic tutorials
write it: a forward expression, loss.backward(), then a manual update under no_grad.

Run: python examples/linear_regression.py
"""
import ember


def main(steps=200, lr=0.1):
    x = ember.arange(-3, 3, 0.1).view(-1, 1)
    y = 1 * x - 1 + 0.1 * ember.sin(7 * x)  # fixed "noise", no RNG involved
    w = ember.tensor([[-15.0]], requires_grad=True)
    b = ember.tensor([-10.0], requires_grad=True)
    for step in range(steps):
        yhat = x @ w + b
        loss = ((yhat - y) ** 2).mean()
        loss.backward()
        with ember.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
            w.grad.zero_()
            b.grad.zero_()
        if step % 20 == 0 or step == steps - 1:
            print(f"step {step:3d} loss {loss.item():.6f} w {w.item():.6f} b {b.item():.6f}")
    return loss.item(), w.item(), b.item()


if __name__ == "__main__":
    main()
