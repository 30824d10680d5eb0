"""Compare finished (or still running) example runs: their test squared error per image
against epochs in one plot, and a table of it at chosen epochs.

Reads each run's history (history.json, else the checkpoint.npz a running job writes).

    python examples/compare_runs.py out/mnist_rbm out/mnist_autoencoder out/mnist_none \\
        --labels "RBM pre-training" "autoencoder pre-training" "no pre-training" \\
        --ref "PCA, 30 components" 13.87 --out out/mnist_comparison.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import _common
import numpy as np

import minigrad as mg


def read_history(folder: Path) -> dict:
    """The run's history: history.json when it finished, else its latest checkpoint."""
    if (folder / "history.json").is_file():
        return json.loads((folder / "history.json").read_text())
    if (folder / "checkpoint.npz").is_file():
        state = mg.load(str(folder / "checkpoint.npz"))
        if "history" in state:
            return state["history"]
    raise SystemExit(f"error: {folder}: no history.json or fine-tuning checkpoint.npz")


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("runs", nargs="+", type=Path, help="output folders of example runs")
    p.add_argument("--labels", nargs="+", help="one legend label per run (default: folder)")
    p.add_argument(
        "--ref",
        nargs=2,
        action="append",
        default=[],
        metavar=("LABEL", "VALUE"),
        help="a constant drawn as a dashed line (repeatable)",
    )
    p.add_argument("--epochs", type=int, nargs="+", default=[1, 10, 50, 100, 200])
    p.add_argument("--title", default="test squared error per image")
    p.add_argument("--out", type=Path, default=Path("comparison.png"))
    args = p.parse_args(argv)
    labels = args.labels or [r.name for r in args.runs]
    if len(labels) != len(args.runs):
        raise SystemExit(f"error: {len(args.runs)} runs but {len(labels)} labels")
    curves = {}
    print(f"{'run':<32}" + "".join(f"{f'epoch {e}':>11}" for e in args.epochs) + f"{'s/epoch':>9}")
    for label, run in zip(labels, args.runs):
        h = read_history(run)
        errors = h["test_sq_err"]
        curves[label] = errors
        cells = "".join(
            f"{errors[e - 1]:>11.2f}" if e <= len(errors) else f"{'-':>11}" for e in args.epochs
        )
        print(f"{label:<32}{cells}{np.median(h['epoch_seconds']):>9.1f}")
    refs = {label: float(value) for label, value in args.ref}
    _common.save_curves(
        args.out,
        curves,
        args.title,
        xlabel="fine-tuning epoch",
        ylabel="squared error per test image",
        refs=refs,
        log_y=True,
    )
    print(f"wrote {args.out}")
    return curves


if __name__ == "__main__":
    main()
