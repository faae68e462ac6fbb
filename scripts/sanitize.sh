#!/usr/bin/env bash
# Run pytest against an ASan + UBSan + LSan build of ember._C (never touches the pip build or venv).
#
#   scripts/sanitize.sh                        # whole tests/ directory
#   scripts/sanitize.sh tests/test_ops.py -x   # any pytest arguments
#   SKIP_BUILD=1 scripts/sanitize.sh ...       # reuse the last sanitized build as it is
#   PYTHON=/some/venv/bin/python JOBS=2 scripts/sanitize.sh ...
#       ($PYTHON, default /work/venv/bin/python, needs numpy, pytest, cmake, ninja, pybind11,
#       scipy-openblas32, and torch for most tests; gcc provides the sanitizer runtimes.)
#
# 1. cmake -DEMBER_SANITIZE=ON (Debug, no LTO) into build/asan/cmake.
# 2. Stages build/asan/pkg/ember (symlinks to src/ember/* + the sanitized _C) and an overlay venv
#    build/asan/venv that puts it before $PYTHON's site-packages, so subprocesses that drop
#    PYTHONPATH (tests/test_examples.py) import it too; a pytest plugin asserts ember._C.__file__.
# 3. pytest with libasan LD_PRELOADed (python is not instrumented) and PYTHONMALLOC=malloc (LSan
#    then scans Python objects: C++ objects owned by live Python objects are not "leaked").
#    Every process writes its reports to build/asan/logs/{asan,ubsan}.<pid>.
# 4. Fails if pytest fails, on any ASan/UBSan error report (they abort the process), or on any
#    leak with a frame in ember's code (cpp/, pybind11 code in _C). Leaks wholly inside
#    libpython/numpy/torch/openblas (`import numpy` alone leaks ~3 KB) are counted, not failed.
#    No LSan suppressions file: a suppression matches ANY frame, and every ember allocation stack
#    also runs through libpython, so it could not spare ember's leaks.
# Limits: libpython has no frame pointers, so stacks stop at the first libpython frame and a
# leaked Python *object* (missing Py_DECREF) is not attributed to ember. For a C stack of a plain
# abort (Python fatal error, std::terminate) add ASAN_OPTIONS=handle_abort=1 (the process then
# exits 0 after the report; the logs still fail the run).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-/work/venv/bin/python}"
JOBS="${JOBS:-2}"
# SANITIZER=thread: ThreadSanitizer instead (build/tsan; data races reported, leaks not checked).
KIND="${SANITIZER:-address}"
case "$KIND" in address) B="$ROOT/build/asan"; CMAKE_SAN=-DEMBER_SANITIZE=ON; SAN_LIB=libasan.so ;;
  thread) B="$ROOT/build/tsan"; CMAKE_SAN=-DEMBER_SANITIZE_THREAD=ON; SAN_LIB=libtsan.so ;;
  *) echo "sanitize.sh: SANITIZER must be address or thread, not $KIND" >&2; exit 2 ;; esac
LOGS="$B/logs"
[ $# -gt 0 ] || set -- tests

ASAN_LIB="$(gcc -print-file-name=$SAN_LIB)"
[ -f "$ASAN_LIB" ] || { echo "sanitize.sh: no sanitizer runtime ($ASAN_LIB); install gcc" >&2; exit 2; }
# libstdc++ preloaded too: python does not link it, and ASan's __cxa_throw interceptor must find
# it at startup ("CHECK failed: asan_interceptors.cpp:320 real___cxa_throw" at the first throw).
PRELOAD="$ASAN_LIB $(readlink -f "$(gcc -print-file-name=libstdc++.so.6)")"

# --- 1. build --------------------------------------------------------------------------------
PYBIN="$(dirname "$PYTHON")"       # the venv's cmake/ninja, if it has them
export PATH="$PYBIN:$PATH"
mkdir -p "$B"
if [ "${SKIP_BUILD:-0}" = 1 ] && ls "$B"/cmake/_C*.so >/dev/null 2>&1; then
  echo "sanitize.sh: SKIP_BUILD=1, reusing $(ls "$B"/cmake/_C*.so)"
else
GEN=()
if [ ! -f "$B/cmake/CMakeCache.txt" ] && command -v ninja >/dev/null; then GEN=(-G Ninja); fi
# Debug: no -O3/-DNDEBUG (the EMBER_SANITIZE block adds -O1 -g), no pybind11 LTO (a 3-4 minute
# relink after every edit) and no stripping of _C.
cmake -S "$ROOT" -B "$B/cmake" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Debug "$CMAKE_SAN" \
  -DCMAKE_INTERPROCEDURAL_OPTIMIZATION=OFF -DPython_EXECUTABLE="$PYTHON" \
  -Dpybind11_DIR="$("$PYTHON" -m pybind11 --cmakedir)" > "$B/cmake-configure.log" \
  || { cat "$B/cmake-configure.log"; exit 2; }
cmake --build "$B/cmake" -j "$JOBS"
fi

# --- 2. stage the package and an overlay venv ------------------------------------------------
rm -rf "$B/pkg"
mkdir -p "$B/pkg/ember"
for f in "$ROOT"/src/ember/*; do
  case "$f" in *.so|*/__pycache__) continue ;; esac
  ln -s "$f" "$B/pkg/ember/"
done
cp "$B"/cmake/_C*.so "$B/pkg/ember/"
# pytest plugin (-p): fails the run if the tests would not use the sanitized _C.
cat > "$B/pkg/ember_asan_check.py" <<EOF
import ember
def pytest_report_header(config):
    return "sanitized ember._C: " + ember._C.__file__
def pytest_configure(config):
    assert ember._C.__file__.startswith("$B/pkg/ember/"), ember._C.__file__
EOF

# libubsan ignores UBSAN_OPTIONS=log_path next to ASan (its __sanitizer_set_report_path call
# binds to libasan's copy), and pytest's fd capture would swallow a report printed to stderr
# just before the abort: every Python process of the overlay venv points libubsan's own copy at
# the log directory instead.
cat > "$B/pkg/ember_asan_boot.py" <<'EOF2'
import os
if os.environ.get("EMBER_UBSAN_LOG"):
    import ctypes
    try:
        ctypes.CDLL("libubsan.so.1").__sanitizer_set_report_path(os.environ["EMBER_UBSAN_LOG"].encode())
    except (OSError, AttributeError):
        pass
EOF2

VPY="$B/venv/bin/python"
if [ ! -x "$VPY" ] || [ "$(cat "$B/venv/.for-python" 2>/dev/null)" != "$PYTHON" ]; then
  rm -rf "$B/venv"
  "$PYTHON" -m venv --without-pip "$B/venv"
  echo "$PYTHON" > "$B/venv/.for-python"
fi
SITE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
PARENT_SITE="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
printf '%s\nimport site; site.addsitedir("%s")\nimport ember_asan_boot\n' "$B/pkg" "$PARENT_SITE" \
  > "$SITE/00-ember-asan.pth"

# --- 3. run the tests ------------------------------------------------------------------------
rm -rf "$LOGS"; mkdir -p "$LOGS"
# exitcode=0: a leak alone does not change a process's exit status (numpy's import leaks, and
# subprocess tests check exit codes); abort_on_error=1: ASan/UBSan errors still kill the process.
# allocator_may_return_null=1: an impossible allocation throws std::bad_alloc as without ASan.
ASAN_OPTS="detect_leaks=1:exitcode=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1"
ASAN_OPTS+=":log_path=$LOGS/asan"
TSAN_OPTS="halt_on_error=0:report_signal_unsafe=0:log_path=$LOGS/tsan"
RUN=(env LD_PRELOAD="$PRELOAD" PYTHONMALLOC=malloc PYTHONUNBUFFERED=1 EMBER_SANITIZED=1
     TSAN_OPTIONS="$TSAN_OPTS${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
     EMBER_UBSAN_LOG="$LOGS/ubsan" ASAN_OPTIONS="$ASAN_OPTS${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
     UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}")
set +e
"${RUN[@]}" "$VPY" -c 'import ember; print("sanitized ember._C:", ember._C.__file__)'
"${RUN[@]}" "$VPY" -m pytest -p ember_asan_check -p no:cacheprovider "$@"
PYTEST_RC=$?
set -e

# --- 4. judge the reports --------------------------------------------------------------------
"$PYTHON" - "$LOGS" "$ROOT" "$B" "$PYTEST_RC" <<'EOF'
import glob, os, re, sys
logs, root, build, pytest_rc = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ember_frame = re.compile(r"(%s/cpp/|/pybind11/include/|%s/(pkg|cmake)/)" % (re.escape(root), re.escape(build)))
errors, ember_leaks, other_leaks = [], [], 0
for path in sorted(glob.glob(os.path.join(logs, "*san.*"))):
    text = open(path, errors="replace").read()
    # non-leak reports: ASan "ERROR: AddressSanitizer", UBSan "runtime error:"
    if re.search(r"ERROR: AddressSanitizer|runtime error:|ERROR: UndefinedBehaviorSanitizer|Sanitizer: CHECK failed"
                 r"|WARNING: ThreadSanitizer|ThreadSanitizer: CHECK failed|FATAL: ThreadSanitizer", text):
        errors.append((path, text))
    for block in re.split(r"\n(?=(?:Direct|Indirect) leak of )", text):
        if not re.match(r"(Direct|Indirect) leak of ", block):
            continue
        block = block.split("\n\n")[0]
        if ember_frame.search(block):
            ember_leaks.append((path, block))
        else:
            other_leaks += 1
for path, text in errors:
    print(f"\n===== sanitizer error in {path} =====\n{text}")
for path, block in ember_leaks:
    print(f"\n===== ember leak ({os.path.basename(path)}) =====\n{block}")
print(f"\nsanitize.sh: pytest exit {pytest_rc}; {len(errors)} ASan/UBSan/TSan error report(s); "
      f"{len(ember_leaks)} ember leak(s); {other_leaks} leak record(s) outside ember ignored "
      f"(reports in {logs})")
sys.exit(1 if (pytest_rc or errors or ember_leaks) else 0)
EOF
