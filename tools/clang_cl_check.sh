#!/usr/bin/env bash
# clang_cl_check.sh -- compile every kernel C file (src_c/*.c and the headers and
# templates they include; not the Cython modules) the way the Windows build compiles
# them: clang-cl in MSVC mode (_WIN32, _MSC_VER, _M_X64, __clang__; no __GNUC__), once
# serial and once with /openmp, with the flags setup.py gives clang-cl. To object files
# (/c), not just /Zs: some checks run only in code generation (an always_inline
# intrinsic called from a function without its target feature, say).
#
# There is no Windows SDK here: the C runtime headers come from tools/msvc_shim (the
# UCRT's declarations of what the kernels use, and nothing POSIX-only), the rest (stddef,
# stdint, intrin, immintrin, omp.h) from clang's resource directory. An implicitly
# declared function is an error, so a POSIX-only call on a _WIN32 path fails the check.
#
# Usage: tools/clang_cl_check.sh          (CLANG_CL=/path/to/clang-cl to choose one)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n "${CLANG_CL:-}" ]]; then
    cl=("$CLANG_CL")
elif command -v clang-cl >/dev/null; then
    cl=(clang-cl)
else # Debian's clang package has no clang-cl link: the same driver in cl mode
    clang=$(compgen -c clang- | grep -E '^clang-[0-9]+$' | sort -V | tail -1 || true)
    [[ -n "$clang" ]] || clang=clang
    cl=("$clang" --driver-mode=cl)
fi
cl+=(--target=x86_64-pc-windows-msvc)
"${cl[@]}" --version | head -1

# setup.py's clang-cl flags (WINDOWS_CFLAGS), then the check's own
flags=(/nologo /O2 /clang:-O3 /clang:-std=gnu11 /clang:-fno-math-errno /W3 /MD /DNDEBUG)
check=(/c /X /imsvc tools/msvc_shim /Isrc_c /clang:-Werror=implicit-function-declaration
       /clang:-Wvla)

# The kernel files; one that includes Python.h (mg_array_cache.c, the NumPy allocator)
# needs the Windows Python headers, which are not here: it builds with the Cython modules.
files=()
for f in src_c/*.c; do
    if grep -q '^#include <Python.h>' "$f"; then
        echo "skip $f (includes Python.h)"
    else
        files+=("$f")
    fi
done

status=0
# the dispatch is compiled in: MG_X86 must hold under clang-cl (else the AVX2/AVX-512
# kernels silently drop out of the Windows build), with no __GNUC__ in sight
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
probe=$tmp/probe.c
cat >"$probe" <<'C'
#include "mg_common.h"
#if !MG_X86
#error "MG_X86 is 0 under clang-cl: the AVX2/AVX-512 kernels would be left out"
#endif
#if defined(__GNUC__) || !defined(_MSC_VER) || !defined(_WIN32) || !defined(_M_X64)
#error "not compiling in MSVC mode"
#endif
_Static_assert(sizeof(void *) == 8 && sizeof(long) == 4, "LLP64 (Windows x64)");
C
for omp in "" /openmp; do
    echo "== mode: ${omp:-serial}"
    if "${cl[@]}" "${flags[@]}" $omp "${check[@]}" /Fo"$tmp/" "$probe"; then
        echo "ok   MG_X86 under clang-cl, MSVC macros, LLP64"
    else
        echo "FAIL probe"; status=1
    fi
    for f in "${files[@]}"; do
        if "${cl[@]}" "${flags[@]}" $omp "${check[@]}" /Fo"$tmp/" "$f"; then
            echo "ok   $f"
        else
            echo "FAIL $f"; status=1
        fi
    done
done

# OpenMP regions must not hold the per-ISA vector code (clang compiles their outlined
# bodies without the enclosing function's target attribute: tools/check_omp_outlined.py)
echo "== OpenMP regions compiled for their ISA"
for f in "${files[@]}"; do
    ll=$tmp/$(basename "$f" .c).ll
    if "${cl[@]}" "${flags[@]}" /openmp /X /imsvc tools/msvc_shim /Isrc_c /clang:-S \
        /clang:-emit-llvm /clang:-o"$ll" "$f" && python3 tools/check_omp_outlined.py "$ll"; then
        echo "ok   $f"
    else
        echo "FAIL $f"; status=1
    fi
done
exit $status
