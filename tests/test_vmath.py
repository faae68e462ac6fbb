"""The float32 SIMD tanh, sigmoid and log (cpp/ember/kernels/vmath.h, used by ember.tanh / ember.sigmoid /
ember.log on contiguous float32 tensors, by the RNN gates and by narrow softmax rows): within a few ulp of the float64 result over the
whole float range, and torch's values at the special points (signed zeros, infinities, NaN)."""
import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

GRID = np.concatenate([np.linspace(-120, 120, 200001, dtype=np.float32),
                       np.linspace(-0.7, 0.7, 50001, dtype=np.float32),
                       np.geomspace(1e-30, 1e3, 20001).astype(np.float32)])
SPECIAL = np.array([0.0, -0.0, 1e-30, -1e-30, 1e-7, 0.625, -0.625, 88.0, -88.0, -104.0, np.inf, -np.inf, np.nan],
                   np.float32)


@pytest.mark.parametrize("fn,max_ulp", [("tanh", 2.0), ("sigmoid", 3.0)])
def test_within_a_few_ulp_of_float64(fn, max_ulp):
    x = np.concatenate([GRID, -GRID[-20001:]])
    got = getattr(ember, fn)(ember.tensor(x)).numpy()
    exact = getattr(torch, fn)(torch.tensor(x, dtype=torch.float64)).numpy()
    normal = np.abs(exact) > 1e-37
    ulp = np.abs(got[normal] - exact[normal]) / np.spacing(np.abs(exact[normal]).astype(np.float32))
    assert ulp.max() <= max_ulp, (fn, float(ulp.max()), float(x[normal][ulp.argmax()]))
    assert np.all(np.abs(got[~normal] - exact[~normal]) < 1e-37)


@pytest.mark.parametrize("fn", ["tanh", "sigmoid"])
def test_special_values_as_torch(fn):
    got = getattr(ember, fn)(ember.tensor(SPECIAL)).numpy()
    ref = getattr(torch, fn)(torch.tensor(SPECIAL)).numpy()
    np.testing.assert_allclose(got, ref, rtol=3e-7, atol=1e-37)
    zero = ref == 0
    assert np.array_equal(np.signbit(got[zero]), np.signbit(ref[zero]))
    assert np.isnan(got[-1])


def test_log_within_one_ulp_of_float64_and_special_values_as_torch():
    """vlog over every binade (subnormals included) and densely around 1, where log is near 0."""
    x = np.concatenate([np.geomspace(1e-45, 3.4e38, 400001).astype(np.float32),
                        np.linspace(0.5, 2.0, 100001, dtype=np.float32)])
    got = ember.log(ember.tensor(x)).numpy()
    exact = np.log(x.astype(np.float64))
    nz = exact != 0
    ulp = np.abs(got[nz] - exact[nz]) / np.spacing(np.abs(exact[nz]).astype(np.float32))
    assert ulp.max() <= 1.0, (float(ulp.max()), float(x[nz][ulp.argmax()]))
    assert got[~nz].tolist() == [0.0] * int((~nz).sum())
    special = np.array([0.0, -0.0, -1.0, -1e-30, np.inf, -np.inf, np.nan, 1e-45, 1.1754942e-38, 1.1754944e-38],
                       np.float32)
    np.testing.assert_array_equal(ember.log(ember.tensor(special)).numpy(), torch.log(torch.tensor(special)).numpy())


def test_strided_and_float64_take_the_exact_path():
    x = np.linspace(-5, 5, 64, dtype=np.float64).reshape(8, 8)
    for fn in ("tanh", "sigmoid"):
        e64 = getattr(ember, fn)(ember.tensor(x)).numpy()
        np.testing.assert_allclose(e64, getattr(torch, fn)(torch.tensor(x)).numpy(), rtol=1e-15, atol=0)
        et = getattr(ember, fn)(ember.tensor(x.astype(np.float32)).t()).numpy()
        np.testing.assert_allclose(et, getattr(torch, fn)(torch.tensor(x.astype(np.float32)).t()).numpy(), rtol=3e-7)
