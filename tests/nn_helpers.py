"""Small helpers for the nn / optim / data / serialization tests: move numpy arrays into ember
and torch, copy identical weights into twin modules, compare results."""
import numpy as np

import ember


def rng(seed=0):
    return np.random.default_rng(seed)


def to_np(t):
    """ember or torch tensor (or anything array-like) -> numpy array."""
    if hasattr(t, "detach"):
        t = t.detach()
    if hasattr(t, "numpy"):
        return np.array(t.numpy(), copy=True)
    return np.asarray(t)


def pair(arr, requires_grad=False):
    """The same numpy array as an ember tensor and as a torch tensor (separate memory)."""
    import torch

    arr = np.array(arr, copy=True)
    e = ember.tensor(arr.copy())
    t = torch.tensor(arr.copy())
    if requires_grad:
        e.requires_grad_(True)
        t.requires_grad_(True)
    return e, t


def dtype_name(dt):
    """'float32' for both ember.float32 and torch.float32."""
    return str(dt).split(".")[-1]


def assert_close(a, b, rtol=1e-6, atol=1e-10, msg=""):
    a, b = to_np(a), to_np(b)
    assert a.shape == b.shape, f"{msg} shape {a.shape} != {b.shape}"
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=msg)


def fill_like_torch(e_module, t_module, seed=0, scale=0.5):
    """Give every parameter of the two twin modules the same random values (numpy-generated),
    matched by torch's parameter names."""
    import torch

    g = rng(seed)
    e_params = dict(e_module.named_parameters())
    with torch.no_grad(), ember.no_grad():
        for name, tp in t_module.named_parameters():
            arr = scale * g.standard_normal(tuple(tp.shape))
            tp.copy_(torch.tensor(arr, dtype=tp.dtype))
            ep = e_params[name]
            ep.copy_(ember.tensor(arr).to(ep.dtype))


def assert_grads_match(e_module, t_module, rtol=1e-6, atol=1e-10):
    e_params = dict(e_module.named_parameters())
    for name, tp in t_module.named_parameters():
        ep = e_params[name]
        if tp.grad is None:
            assert ep.grad is None or not np.any(to_np(ep.grad)), name
        else:
            assert ep.grad is not None, f"no gradient for {name}"
            assert_close(ep.grad, tp.grad, rtol, atol, msg=name)


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar function f(numpy array) at x (float64)."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f(x)
        flat[i] = old - eps
        fm = f(x)
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return g
