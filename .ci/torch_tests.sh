#!/usr/bin/env bash
# CI, after the README's test command: install PyTorch's CPU build into the venv that
# command made (the requirements of the `bench` extra, which pins torch==2.13.0, and of
# `examples`: matplotlib, which the SegNet comparison's module needs) and run every test marked `torch` (tests/conftest.py
# marks each test that imports torch). MINIGRAD_REQUIRE_TORCH=1 turns a "no torch here"
# skip into a failure, so a broken install cannot pass as a green run that compared nothing.
#
# Only a CPU build may come in: pip's plan is checked first (--dry-run --report) and the
# step refuses a torch that is not "+cpu" or that drags CUDA packages (nvidia-*) along,
# before anything is downloaded. Where PyPI serves only the CUDA wheel, point pip at a CPU
# wheel first (PIP_FIND_LINKS or PIP_EXTRA_INDEX_URL, as this machine's pip config does).
set -euo pipefail
. "$(dirname "$0")/venv.sh"
start=$(date +%s)
mapfile -t reqs < <(requirements_of bench examples)  # torch's one pin is in pyproject.toml
report=$(mktemp)
trap 'rm -f "$report"' EXIT
echo "+ pip install --dry-run --ignore-installed --report ... ${reqs[*]}"
pip install --quiet --dry-run --ignore-installed --report "$report" "${reqs[@]}"
python - "$report" <<'PY'
import json, sys
plan = {i["metadata"]["name"].lower(): i["metadata"]["version"]
        for i in json.load(open(sys.argv[1]))["install"]}
cuda = sorted(n for n in plan if n.startswith(("nvidia-", "triton")))
torch = plan.get("torch", "")
if cuda or not torch.endswith("+cpu"):
    sys.exit(f".ci/torch_tests.sh: pip would install torch {torch or '(none)'} with "
             f"{cuda or 'no CUDA packages'}; only PyTorch's CPU build (+cpu) is wanted here")
print(f"  plan: torch {torch}, no CUDA packages")
PY
echo "+ pip install ${reqs[*]}"
pip install --quiet "${reqs[@]}"
python -c "import torch; assert torch.version.cuda is None, torch.version.cuda; print('  torch', torch.__version__)"
echo "+ MINIGRAD_REQUIRE_TORCH=1 pytest -q -m torch"
MINIGRAD_REQUIRE_TORCH=1 pytest -q -m torch
echo ".ci/torch_tests.sh: finished in $(( $(date +%s) - start )) s"
