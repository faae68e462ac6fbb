"""Every GEMM path (Note [GEMM paths] in cpp/ember/kernels/gemm.cpp) forced in turn on every
operand layout, against a float64 product: the path the calibration picks must not change a
result beyond rounding. Shapes cross the packed kernel's register tile, K block, row block and
column block, and run on one and on all threads."""
import os
import subprocess
import sys

import numpy as np
import pytest

import ember

PATHS = ["direct", "mid", "packed", "blas", "blas_t"]


@pytest.fixture
def forced():
    prev = ember._C._gemm_path()
    threads = ember.get_num_threads()
    yield ember._C._gemm_path
    ember._C._gemm_path(prev)
    ember.set_num_threads(threads)


def operand(rng, rows, cols, layout, dtype):
    """rows x cols as ember sees it, stored row-major ('n'), transposed ('t') or every other
    column of a wider array ('s')."""
    if layout == "n":
        v = rng.standard_normal((rows, cols))
        return v, ember.tensor(v, dtype=dtype)
    if layout == "t":
        v = rng.standard_normal((cols, rows))
        return v.T, ember.tensor(v, dtype=dtype).t()
    v = rng.standard_normal((rows, 2 * cols))
    return v[:, ::2], ember.tensor(v, dtype=dtype)[:, ::2]


# (64, 48, 1100): K split in 4 parts (Note [GEMM K split]); (130, 33, 1000), (700, 40, 30): rows split
# M's last tiles under AVX-512's 14-row tile (micro_tail): 3, 1, 4, none, 6, 8 and 11 rows
SHAPES = [(3, 5, 7), (29, 70, 45), (130, 33, 1000), (700, 40, 30), (20, 2800, 400), (64, 48, 1100), (25, 19, 77)]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_each_path_agrees_on_every_layout(forced, path, shape, dtype):
    M, N, K = shape
    rng = np.random.default_rng(M * N + K)
    forced(path)
    tol = dict(rtol=1e-12, atol=1e-11) if dtype == "float64" else dict(rtol=1e-4, atol=3e-4)
    for threads in (1, 2):
        ember.set_num_threads(threads)
        for la in "nts":
            for lb in "nts":
                a, ea = operand(rng, M, K, la, getattr(ember, dtype))
                b, eb = operand(rng, K, N, lb, getattr(ember, dtype))
                got = (ea @ eb).numpy()
                np.testing.assert_allclose(got, a @ b, err_msg=f"{path} {la}{lb} threads={threads}",
                                           **tol)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_each_path_applies_linear_bias_and_relu(forced, path, dtype):
    """nn.Linear's epilogue (bias, then ReLU) on each path: the kernels that apply it as they
    write C (mid, packed: on the last K block only) and those that make a pass after."""
    forced(path)
    rng = np.random.default_rng(5)
    dt = getattr(ember, dtype)
    tol = dict(rtol=1e-12, atol=1e-11) if dtype == "float64" else dict(rtol=1e-4, atol=3e-4)
    for batch, fin, fout in [(9, 1000, 37), (64, 33, 70), (700, 20, 45), (50, 1100, 64)]:
        x, w, b = rng.standard_normal((batch, fin)), rng.standard_normal((fout, fin)), rng.standard_normal(fout)
        ex, ew, eb = (ember.tensor(v, dtype=dt) for v in (x, w, b))
        want = x @ w.T + b
        np.testing.assert_allclose(ember.nn.functional.linear(ex, ew, eb).numpy(), want, **tol)
        np.testing.assert_allclose(ember._C._linear_relu(ex, ew, eb).numpy(), np.maximum(want, 0), **tol)


@pytest.mark.parametrize("shape", [(64, 48, 1100), (9, 37, 1000), (700, 40, 30), (130, 33, 1000)],
                         ids=lambda s: "x".join(map(str, s)))
def test_packed_splits_do_not_depend_on_the_thread_count(forced, shape):
    """The packed kernel's row split and K split (Notes [GEMM row split], [GEMM K split]) give every
    element the same operations on 1 and on 2 threads: bit-identical products and Linear outputs."""
    M, N, K = shape
    rng = np.random.default_rng(K)
    a, b, bias = rng.standard_normal((M, K)), rng.standard_normal((N, K)), rng.standard_normal(N)
    ea, eb, ebias = (ember.tensor(v, dtype=ember.float32) for v in (a, b, bias))
    forced("packed")
    got = []
    for threads in (1, 2):
        ember.set_num_threads(threads)
        got.append(((ea @ eb.t()).numpy(), ember.nn.functional.linear(ea, eb, ebias).numpy()))
    for one, two in zip(*got):
        np.testing.assert_array_equal(one, two)
    np.testing.assert_allclose(got[0][1], a @ b.T + bias, rtol=1e-4, atol=1e-3)


def test_gemm_path_names(forced):
    assert forced() in ["auto"] + PATHS
    with pytest.raises(ValueError, match="unknown path 'fast'"):
        forced("fast")


def test_calibration_is_cached_per_cpu_and_bad_files_are_measured_again(tmp_path):
    """The first product measures the ranking and writes it; a later process reads it; a file
    that does not parse is replaced by a new measurement, never trusted."""
    code = ("import ember; a = ember.ones(300, 300); print(float((a @ a)[0, 0]))")
    env = dict(os.environ, EMBER_CACHE_DIR=str(tmp_path))
    env.pop("EMBER_GEMM_CALIBRATE", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "300.0"
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].name.startswith("gemm-") and files[0].name.endswith(".txt")
    words = files[0].read_text().split()
    header = words[0]
    assert header.startswith("ember-gemm-ranking-") and len(words) == 1 + 4 * 4 * 4
    assert set(words[1:]) <= {"direct", "mid", "packed", "blas", "blas_t"}
    files[0].write_text(" ".join([header] + ["mid"] * 64))  # read, not measured again
    subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert files[0].read_text().split()[1:] == ["mid"] * 64
    files[0].write_text(header + " mid fast\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "300.0"
    assert len(files[0].read_text().split()) == 1 + 4 * 4 * 4


def test_blas_t_with_a_transposed_b_larger_than_its_scratch(forced):
    """blas_t copies a transposed B of at most 2^22 elements; a larger one takes plain OpenBLAS."""
    forced("blas_t")
    rng = np.random.default_rng(5)
    a = rng.standard_normal((3, 2100)).astype(np.float32)
    b = rng.standard_normal((2100, 2100)).astype(np.float32)  # 4.4M elements, used transposed
    got = (ember.tensor(a) @ ember.tensor(b).t()).numpy()
    np.testing.assert_allclose(got, a.astype(np.float64) @ b.T.astype(np.float64), rtol=1e-4, atol=2e-3)
