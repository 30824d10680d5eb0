#!/usr/bin/env bash
# CI, after the README's test command: the kernels built with AddressSanitizer and
# UndefinedBehaviorSanitizer (tools/sanitize.sh, in a scratch copy of the tree), running
# the kernel tests, the fuzz suite and the thread tests. An out-of-bounds access, a
# misaligned load or an allocation that C does not allow fails here even where the
# ordinary build happens to survive it. Needs the build requirements (pyproject.toml's
# [build-system]) in the venv, since it calls setup.py directly, and gcc's sanitizer
# runtimes (libasan, libubsan: Debian's libgcc-12-dev, present wherever gcc is).
set -euo pipefail
. "$(dirname "$0")/venv.sh"
start=$(date +%s)
mapfile -t reqs < <(requirements_of build-system)
echo "+ pip install ${reqs[*]}"
pip install --quiet "${reqs[@]}"
MINIGRAD_SANITIZE_DIR=$(mktemp -d) bash tools/sanitize.sh
echo ".ci/sanitize_tests.sh: finished in $(( $(date +%s) - start )) s"
