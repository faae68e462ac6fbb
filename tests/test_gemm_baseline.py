"""ember's own GEMM kernel is built per target (AVX-512, AVX2, baseline), with that target's
vector width; the rest of the suite runs only the one this CPU picks. This builds the kernel
without per-target versions (the baseline's 16-byte vectors) and checks it in C++."""
import pytest

from helpers import run_cpp_program


def test_gemm_kernel_with_baseline_vectors(tmp_path):
    blas = pytest.importorskip("scipy_openblas32")
    run_cpp_program(tmp_path, ["tests/cpp/gemm_widths.cpp", "cpp/ember/kernels/gemm.cpp", "cpp/ember/kernels/parallel.cpp"],
                    ["-O2", "-DEMBER_NO_CLONES", "-I", blas.get_include_dir()])
