#!/usr/bin/env bash
# CI, after the README's test command: install the `mpi` extra's requirements (mpi4py and
# Open MPI's wheel, with its mpirun) into the venv that command made, and run the MPI
# tests. tests/test_distributed.py launches `mpirun -n 2` itself, adding
# --allow-run-as-root (CI runs as root) and --oversubscribe where Open MPI needs them.
# MINIGRAD_REQUIRE_MPI=1 turns the tests' "no MPI here" skip into a failure: a broken
# install must not pass as a green run that tested nothing.
set -euo pipefail
. "$(dirname "$0")/venv.sh"
mapfile -t reqs < <(requirements_of mpi)  # the `mpi` extra, without rebuilding minigrad
echo "+ pip install ${reqs[*]}"
pip install --quiet "${reqs[@]}"
echo "+ pytest -q tests/test_distributed.py"
MINIGRAD_REQUIRE_MPI=1 pytest -q tests/test_distributed.py
