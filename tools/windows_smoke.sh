#!/usr/bin/env bash
# windows_smoke.sh -- build tools/windows_smoke.c with the kernels' C files for Windows
# (mingw-w64: the Windows C runtime and headers, so the _WIN32 branches -- _aligned_malloc
# behind mg_aligned_alloc, for one -- are what runs) and run it under Wine: once serial,
# once with OpenMP (mingw's libgomp, linked statically). Exits nonzero if a build fails
# or a check does.
#
# Usage: tools/windows_smoke.sh     (MINGW_CC, WINE and WINEPREFIX to override; the
#                                    executables go to build/windows_smoke/)
set -euo pipefail
cd "$(dirname "$0")/.."

cc=${MINGW_CC:-x86_64-w64-mingw32-gcc}
wine=${WINE:-$(command -v wine64 || command -v wine || echo /usr/lib/wine/wine64)}
out=build/windows_smoke
mkdir -p "$out"
export WINEDEBUG=-all

srcs=(tools/windows_smoke.c src_c/gemm_f32.c src_c/gemm_f64.c src_c/mg_cpu.c src_c/conv_f32.c)
# the kernels' flags on Linux (setup.py), static so that no mingw DLL has to be found, and
# the --wrap that counts the direct products (see windows_smoke.c)
flags=(-O3 -std=gnu11 -fno-math-errno -Wall -Isrc_c -static -DSMOKE_WRAP_DIRECT
       -Wl,--wrap=mg_sgemm_direct,--wrap=mg_sgemm_direct_t)

"$cc" --version | head -1
"$wine" --version
status=0
for mode in serial openmp; do
    exe=$out/smoke_$mode.exe
    extra=()
    [[ $mode == openmp ]] && extra=(-fopenmp)
    echo "== $mode: $cc ${flags[*]} ${extra[*]} -o $exe"
    "$cc" "${flags[@]}" "${extra[@]}" "${srcs[@]}" -o "$exe" -lm
    # what the Windows C runtime provides: _aligned_malloc/_aligned_free are imported
    echo "imports: $(x86_64-w64-mingw32-objdump -p "$exe" | grep -oE 'DLL Name: \S+' |
        sed 's/DLL Name: //' | sort -u | tr '\n' ' ')"
    echo "aligned: $(x86_64-w64-mingw32-objdump -p "$exe" | grep -oE '_aligned_(malloc|free)' |
        sort -u | tr '\n' ' ')"
    if "$wine" "$exe"; then echo "== $mode: passed"; else echo "== $mode: FAILED"; status=1; fi
done
exit $status
