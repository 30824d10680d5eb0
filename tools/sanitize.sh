#!/usr/bin/env bash
# Build the kernels with AddressSanitizer and UndefinedBehaviorSanitizer and run the kernel
# tests and the fuzz suite under them (issue 16). CI runs it (.ci/sanitize_tests.sh, about 4
# minutes on two cores); run it after changing src_c/:
#
#     bash tools/sanitize.sh                       # kernel tests + fuzz + threads
#     bash tools/sanitize.sh -k conv               # extra pytest arguments are passed on
#     MINIGRAD_SANITIZE=undefined bash tools/sanitize.sh
#
# The build happens in a scratch copy of this tree ($MINIGRAD_SANITIZE_DIR, default
# $TMPDIR/minigrad-sanitize), so the in-place build of the checkout is left alone. It needs
# gcc or clang with the sanitizer runtimes (Debian: libgcc-12-dev has libasan and libubsan)
# and the test extras in the active Python environment.
#
# Python itself is not built with ASan, so libasan is preloaded (it must come first), leak
# detection is off (CPython keeps objects alive at exit on purpose), a failed huge
# allocation returns NULL as malloc does (the kernels then report MemoryError), and UBSan
# stops at the first report with a stack trace. torch is never imported (-m "not torch").
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
work=${MINIGRAD_SANITIZE_DIR:-${TMPDIR:-/tmp}/minigrad-sanitize}
export MINIGRAD_SANITIZE=${MINIGRAD_SANITIZE:-address,undefined}
py=${PYTHON:-python}
cc=${CC:-cc}

start=$(date +%s)
echo "+ copying $src to $work (tracked and new files, no build products)"
mkdir -p "$work"
(cd "$src" && git ls-files -co --exclude-standard -z | tar --null -cf - -T -) | (cd "$work" && tar -xf -)
cd "$work"
echo "+ MINIGRAD_SANITIZE=$MINIGRAD_SANITIZE $py setup.py build_ext --inplace -j 2"
"$py" setup.py -q build_ext --inplace -j 2 >build-sanitize.log 2>&1 || {
  tail -50 build-sanitize.log
  exit 1
}
echo "  built in $(($(date +%s) - start)) s"

preload=()
case "$MINIGRAD_SANITIZE" in
  *address*)
    libasan=$("$cc" -print-file-name=libasan.so)
    [ -f "$libasan" ] || { echo "tools/sanitize.sh: no libasan.so for $cc" >&2; exit 2; }
    preload+=("$libasan")
    ;;
esac
case "$MINIGRAD_SANITIZE" in
  *undefined*)
    libubsan=$("$cc" -print-file-name=libubsan.so)
    [ -f "$libubsan" ] && preload+=("$libubsan")
    ;;
esac

export LD_PRELOAD="${preload[*]}"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1:abort_on_error=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export PYTHONMALLOC=malloc  # every Python allocation through (sanitized) malloc
export MINIGRAD_UNDER_SANITIZER=1  # tests that measure resident memory skip themselves
# Arrays get their exact sizes from malloc (no cache, no rounding to pages), so ASan sees
# where each one ends; tests/test_memory.py turns the cache on for its own tests.
export MINIGRAD_CACHE_MB=0

tests=(
  tests/test_conv.py tests/test_pool.py tests/test_local.py tests/test_gemm.py
  tests/test_kernel_hardening.py tests/test_fingerprint.py tests/test_nan_policy.py
  tests/test_errors.py tests/test_fuzz.py tests/test_threads.py tests/test_memory.py
  tests/test_relu.py
)
echo "+ LD_PRELOAD=$LD_PRELOAD ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS"
echo "+ $py -m pytest -q -m 'not torch' ${tests[*]} $*"
"$py" -c "import minigrad as mg; mg.show_config()" | grep -E "cflags|isa"
"$py" -m pytest -q -p no:cacheprovider -m "not torch" "${tests[@]}" "$@"
echo "tools/sanitize.sh: clean, $(($(date +%s) - start)) s in all"
