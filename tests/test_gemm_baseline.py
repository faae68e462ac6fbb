"""ember's own GEMM kernel is built per target (AVX-512, AVX2, baseline), with that target's
vector width; the rest of the suite runs only the one this CPU picks. This builds the kernel
without per-target versions (the baseline's 16-byte vectors) and checks it in C++."""
import os
import shutil
import subprocess

import pytest


def test_gemm_kernel_with_baseline_vectors(tmp_path):
    cxx = shutil.which("g++")
    if cxx is None:
        pytest.skip("no g++")
    blas = pytest.importorskip("scipy_openblas32")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    exe = tmp_path / "gemm_widths"
    kern = os.path.join(root, "cpp", "ember", "kernels")
    build = subprocess.run([cxx, "-std=c++17", "-O2", "-DEMBER_NO_CLONES", "-I", os.path.join(root, "cpp"),
                            "-I", blas.get_include_dir(), os.path.join(root, "tests", "cpp", "gemm_widths.cpp"),
                            os.path.join(kern, "gemm.cpp"), os.path.join(kern, "parallel.cpp"), "-o", str(exe),
                            "-ldl", "-lpthread"], capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}  # (scripts/sanitize.sh preloads ASan)
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), (r.stdout + r.stderr)[-3000:]
