"""Shared test helpers: `check_op` compares an op in ember with torch (forward values and the
gradients of a random projection, tinygrad's helper_test_op); `gradcheck` compares ember's
analytical gradients with central finite differences in float64 (torch.autograd.gradcheck);
`run_cpp_program` builds and runs a C++ test program."""
import os
import shutil
import subprocess

import numpy as np
import pytest

import ember


def rng(seed=0):
    return np.random.default_rng(seed)


def dtype_name(dt):
    """'float32' for both ember.float32 and torch.float32 (and numpy's float32)."""
    return str(dt).split(".")[-1]


def to_np(t):
    """ember or torch tensor (or anything array-like) -> a numpy copy."""
    if hasattr(t, "detach"):
        t = t.detach()
        if dtype_name(t.dtype) == "bfloat16":  # numpy has no bfloat16 (ember and torch refuse .numpy())
            t = t.float()
    if hasattr(t, "numpy"):
        try:
            return np.array(t.numpy(), copy=True)
        except RuntimeError:  # torch's ZeroTensor (the gradient of sgn, say) needs force=True
            return np.array(t.numpy(force=True), copy=True)
    return np.array(t, copy=True)


def _is_float_array(a):
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _outputs(out):
    """An op's result as a flat list of tensors (split/chunk give lists, max(dim) gives a pair)."""
    if isinstance(out, (tuple, list)):
        res = []
        for o in out:
            res.extend(_outputs(o))
        return res
    return [out]


def _is_float_tensor(t):
    return dtype_name(t.dtype) in ("float32", "float64")


def assert_close(actual, expected, rtol=1e-5, atol=1e-6, msg=""):
    a, b = to_np(actual), to_np(expected)
    assert a.shape == b.shape, f"{msg}: shape {a.shape} != {b.shape}"
    if a.dtype == np.bool_ or b.dtype == np.bool_:
        np.testing.assert_array_equal(a, b, err_msg=msg)
    else:
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=msg)


def _projections(outs, seed):
    g = rng(seed)
    return [g.standard_normal(tuple(o.shape)) for o in outs]


def check_op(fn_ember, fn_torch, inputs, *, grad=True, atol=1e-5, rtol=1e-4, grad_atol=None,
             grad_rtol=None, check_dtype=True, seed=1234, convert=None):
    """Run `fn_ember(*ember_inputs)` and `fn_torch(*torch_inputs)` on copies of the same numpy
    `inputs`; compare shapes, dtypes and values of every output, then the gradients with respect
    to every floating input of sum(out * R) for a fixed random R. Non-array inputs (Python
    scalars) are passed through unchanged. `convert(lib, k, tensor)`, when given, turns input k
    into the tensor the call gets (another dtype, say), the same way for both libraries."""
    import torch

    grad_atol = atol if grad_atol is None else grad_atol
    grad_rtol = rtol if grad_rtol is None else grad_rtol
    e_in, t_in = [], []
    for a in inputs:
        if isinstance(a, np.ndarray):
            e = ember.tensor(a.copy())
            t = torch.tensor(a.copy())
            if convert is not None:
                e, t = convert(ember, len(e_in), e), convert(torch, len(t_in), t)
            if grad and e.is_floating_point():
                e.requires_grad_(True)
                t.requires_grad_(True)
            e_in.append(e)
            t_in.append(t)
        else:
            e_in.append(a)
            t_in.append(a)

    e_outs = _outputs(fn_ember(*e_in))
    t_outs = _outputs(fn_torch(*t_in))
    assert len(e_outs) == len(t_outs), f"{len(e_outs)} outputs, torch gives {len(t_outs)}"
    for i, (e, t) in enumerate(zip(e_outs, t_outs)):
        assert tuple(e.shape) == tuple(t.shape), f"output {i}: shape {tuple(e.shape)} != torch {tuple(t.shape)}"
        if check_dtype:
            assert dtype_name(e.dtype) == dtype_name(t.dtype), f"output {i}: dtype {e.dtype} != torch {t.dtype}"
        assert_close(e, t, rtol=rtol, atol=atol, msg=f"forward output {i}")

    if not grad:
        return e_outs
    pairs = [(e, t) for e, t in zip(e_outs, t_outs) if _is_float_tensor(t) and t.requires_grad]
    if not pairs:
        return e_outs
    for e, t in pairs:
        assert e.requires_grad, "ember output does not require grad but torch's does"
    projections = _projections([t for _, t in pairs], seed)
    e_loss = None
    t_loss = None
    for (e, t), r in zip(pairs, projections):
        el = (e * ember.tensor(r.astype(to_np(e).dtype))).sum()
        tl = (t * torch.tensor(r.astype(to_np(t).dtype))).sum()
        e_loss = el if e_loss is None else e_loss + el
        t_loss = tl if t_loss is None else t_loss + tl
    e_loss.backward()
    t_loss.backward()
    for i, (e, t) in enumerate(zip(e_in, t_in)):
        if not hasattr(t, "requires_grad") or not t.requires_grad:
            continue
        if t.grad is None:
            assert e.grad is None or np.all(to_np(e.grad) == 0), f"input {i}: ember has a grad, torch none"
            continue
        assert e.grad is not None, f"input {i}: ember grad is None, torch has one"
        assert tuple(e.grad.shape) == tuple(t.grad.shape), f"input {i}: grad shape"
        assert_close(e.grad, t.grad, rtol=grad_rtol, atol=grad_atol, msg=f"grad of input {i}")
    return e_outs


def gradcheck(fn, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-5, seed=4321):
    """Central finite differences in float64 against ember's backward. `fn` takes ember tensors
    (one per entry of `inputs`; numpy float arrays are converted to float64 tensors that require
    grad, other arrays/scalars are passed as they are) and returns a tensor or a list of tensors.
    The scalar checked is sum_k (out_k * R_k) for fixed random projections R_k."""
    inputs = [a.astype(np.float64) if _is_float_array(a) else a for a in inputs]

    def as_ember(arrays, requires_grad):
        res = []
        for a in arrays:
            if isinstance(a, np.ndarray):
                t = ember.tensor(a.copy())
                if requires_grad and _is_float_array(a):
                    t.requires_grad_(True)
                res.append(t)
            else:
                res.append(a)
        return res

    leaves = as_ember(inputs, True)
    outs = [o for o in _outputs(fn(*leaves)) if _is_float_tensor(o)]
    assert outs, "gradcheck needs a floating output"
    for o in outs:
        assert dtype_name(o.dtype) == "float64", f"output dtype {o.dtype}, expected float64"
    projections = _projections(outs, seed)
    loss = None
    for o, r in zip(outs, projections):
        term = (o * ember.tensor(r)).sum()
        loss = term if loss is None else loss + term
    loss.backward()

    def f(arrays):
        with ember.no_grad():
            res = [o for o in _outputs(fn(*as_ember(arrays, False))) if _is_float_tensor(o)]
        return sum(float((to_np(o) * r).sum()) for o, r in zip(res, projections))

    for i, a in enumerate(inputs):
        if not _is_float_array(a):
            continue
        numeric = np.zeros_like(a)
        for j in range(a.size):
            plus = [x.copy() if isinstance(x, np.ndarray) else x for x in inputs]
            minus = [x.copy() if isinstance(x, np.ndarray) else x for x in inputs]
            plus[i].reshape(-1)[j] += eps
            minus[i].reshape(-1)[j] -= eps
            numeric.reshape(-1)[j] = (f(plus) - f(minus)) / (2 * eps)
        g = leaves[i].grad
        analytic = np.zeros_like(a) if g is None else to_np(g)
        assert analytic.shape == a.shape, f"input {i}: grad shape {analytic.shape} != {a.shape}"
        np.testing.assert_allclose(analytic, numeric, rtol=rtol, atol=atol,
                                   err_msg=f"gradcheck: input {i} analytical vs numerical")


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cpp_program(tmp_path, sources, flags, env=None, skip_build_error=None):
    """Build a C++ test program from ember's sources (paths relative to the repository) with g++
    and run it; it must exit 0 and print exactly "ok". Skips without g++, or when the build fails
    with an error containing skip_build_error (a missing sanitizer runtime, say)."""
    cxx = shutil.which("g++")
    if cxx is None:
        pytest.skip("no g++")
    exe = tmp_path / "prog"
    build = subprocess.run([cxx, "-std=c++17", "-I", os.path.join(ROOT, "cpp"), *flags,
                            *(os.path.join(ROOT, s) for s in sources), "-o", str(exe), "-ldl", "-lpthread"],
                           capture_output=True, text=True, timeout=300)
    if build.returncode != 0 and skip_build_error and skip_build_error in build.stderr.lower():
        pytest.skip("build: " + build.stderr[-300:])
    assert build.returncode == 0, build.stderr[-3000:]
    run_env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}  # (scripts/sanitize.sh preloads ASan)
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300, env=dict(run_env, **(env or {})))
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.stdout + r.stderr)[-3000:]
