#!/usr/bin/env bash
# CI, after the README's test command: what this Linux machine can check of the builds
# the wheels for other systems make (pyproject.toml's cibuildwheel section).
#   1. clang builds the kernels (macOS builds with clang, Windows with clang-cl) and they
#      pass the kernel tests: the `#if defined(__clang__)` branches gcc never compiles,
#      and clang's OpenMP outlining (a parallel region loses its function's target
#      attribute; an AVX-width value crossing it is an ABI error) are both exercised.
#   2. tools/clang_cl_check.sh: every kernel C file compiles in clang-cl's MSVC mode.
#   3. tools/windows_smoke.sh: the GEMM and conv kernels built against the Windows C
#      runtime (mingw-w64) agree with a naive loop under Wine, serial and with OpenMP.
# It installs what it needs from Debian (clang, libomp-dev, mingw-w64, wine64; about
# 200 MB) when a tool is missing, and the build requirements into the README's venv.
set -euo pipefail
. "$(dirname "$0")/venv.sh"
start=$(date +%s)

need=()
command -v clang >/dev/null || need+=(clang)
[ -e /usr/lib/llvm-14/lib/libomp.so ] || ls /usr/lib/llvm-*/lib/libomp.so >/dev/null 2>&1 || need+=(libomp-dev)
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64)
command -v wine64 >/dev/null || command -v wine >/dev/null || [ -x /usr/lib/wine/wine64 ] || need+=(wine64)
if [ ${#need[@]} -gt 0 ]; then
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
  echo "+ apt-get install ${need[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${need[@]}" >/dev/null
fi
mapfile -t reqs < <(requirements_of build-system)
pip install --quiet "${reqs[@]}"

echo "== 1. clang build and kernel tests (a scratch copy of the tree)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git ls-files -co --exclude-standard -z | tar --null -cf - -T - | (cd "$work" && tar -xf -)
(
  cd "$work"
  CC=clang python setup.py -q build_ext --inplace -j 2 >build-clang.log 2>&1 || {
    tail -50 build-clang.log
    exit 1
  }
  python - <<'PY'
import os
import minigrad as mg
assert mg.__file__.startswith(os.getcwd()), mg.__file__  # the clang build, not the venv's
print("  clang build:", mg.config()["isa"], "openmp" if mg.config()["openmp"] else "serial")
PY
  python -m pytest -q -p no:cacheprovider -m "not torch" tests/test_conv.py tests/test_local.py \
    tests/test_gemm.py tests/test_pool.py tests/test_memory.py
)

echo "== 2. clang-cl (MSVC mode) compiles every kernel file"
bash tools/clang_cl_check.sh | grep -v '^ok'

echo "== 3. the kernels on the Windows C runtime, under Wine"
export WINEPREFIX="$work/wine"
bash tools/windows_smoke.sh | tail -4
wineserver -w 2>/dev/null || true  # let Wine save its prefix before the scratch copy goes

echo ".ci/portability_tests.sh: finished in $(( $(date +%s) - start )) s"
