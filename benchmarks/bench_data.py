"""Data loading: MNIST training epochs through the DataLoader, minigrad against
torch.utils.data measured in the same run (medians of interleaved repetitions).

Rows (batch 64, shuffled, the 60,000 training images):

  per item    pytorch/examples' mnist/main.py pipeline: each item through ToTensor() and
              Normalize((0.1307,), (0.3081,)), batches by default_collate. PyTorch: the same
              steps on torch tensors per item (from_numpy, float, /255, (x - m) / s) in its
              DataLoader; torchvision's MNIST would add a PIL image per item on top.
  batch path  no transform: minigrad's array-backed datasets hand over a whole batch (one
              fancy index); PyTorch: a TensorDataset of the same float32 images.
  workers     the per-item pipeline with a training step per batch (a small conv net,
              forward and backward, minigrad's kernels): num_workers 0, 1, 2 (threads), on a
              fixed number of batches, to show what prefetching overlaps.

    python benchmarks/bench_data.py [--quick]    # PYTHONPATH=. from an in-place build

MNIST is read from $MINIGRAD_DATA or ../shared/data.
"""

from __future__ import annotations

import os
import pathlib
import time

import _bench
import numpy as np

import minigrad as mg
from minigrad import nn
from minigrad.data import MNIST, Compose, Normalize, ToTensor
from minigrad.utils.data import DataLoader

torch = _bench.torch


def _root() -> str:
    here = pathlib.Path(__file__).resolve()
    for parent in [os.environ.get("MINIGRAD_DATA")] + [
        p / "shared" / "data" for p in here.parents[1:4]
    ]:
        if parent and (pathlib.Path(parent) / "mnist").is_dir():
            return str(parent)
    raise SystemExit("MNIST not found: set MINIGRAD_DATA to the folder holding mnist/")


def epoch(loader, limit=None, step=None) -> int:
    n = 0
    for i, (x, y) in enumerate(loader):
        if step is not None:
            step(x, y)
        n += len(y)
        if limit is not None and i + 1 >= limit:
            break
    return n


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    args = _bench.parse_args(__doc__, {"--quick": "one repetition, fewer worker batches"})
    repeat = 1 if args.quick else 3
    mg.set_num_threads(2)
    root = _root()
    tf = Compose([ToTensor(), Normalize((0.1307,), (0.3081,))])
    per_item = MNIST(root, train=True, transform=tf)
    plain = MNIST(root, train=True)
    rows = []

    fns = {"minigrad": lambda: epoch(DataLoader(per_item, batch_size=64, shuffle=True))}
    if torch is not None:
        torch.set_num_threads(2)

        class TorchMNIST(torch.utils.data.Dataset):
            def __init__(self, images, labels):
                self.images, self.labels = images, labels

            def __len__(self):
                return len(self.images)

            def __getitem__(self, i):
                x = torch.from_numpy(self.images[i]).float().div(255).unsqueeze(0)
                return (x - 0.1307) / 0.3081, int(self.labels[i])

        tds = TorchMNIST(per_item.data, per_item.targets)
        fns["torch"] = lambda: epoch(torch.utils.data.DataLoader(tds, batch_size=64, shuffle=True))
    t = _bench.median_times(fns, repeat=repeat, warmup=0)
    rows.append(dict(pipeline="per item (ToTensor+Normalize)", **_row(t)))
    print(f"per-item transform alone: {_per_item_us(per_item):.1f} us per item", flush=True)

    fns = {"minigrad": lambda: epoch(DataLoader(plain, batch_size=64, shuffle=True))}
    if torch is not None:
        images = torch.from_numpy(plain.data[:, None].astype(np.float32) / np.float32(255))
        tds = torch.utils.data.TensorDataset(images, torch.from_numpy(plain.targets))
        fns["torch"] = lambda: epoch(torch.utils.data.DataLoader(tds, batch_size=64, shuffle=True))
    t = _bench.median_times(fns, repeat=repeat, warmup=0)
    rows.append(dict(pipeline="batch path (no transform)", **_row(t)))
    _bench.print_table(rows, ["pipeline", "minigrad s/epoch", "torch s/epoch", "ratio"])

    # worker threads against a training step
    mg.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 12 * 12, 10)
    )

    def step(x, y):
        loss = mg.functional.cross_entropy(net(x), y)
        loss.backward()

    batches = 100 if args.quick else 300
    times = {}
    for workers in (0, 1, 2):
        times[workers] = []
    for _ in range(repeat):  # interleaved
        for workers in (0, 1, 2):
            loader = DataLoader(per_item, batch_size=64, shuffle=True, num_workers=workers)
            times[workers].append(timed(lambda loader=loader: epoch(loader, batches, step)))
    print()
    _bench.print_table(
        [
            {
                "num_workers": w,
                f"s per {batches} batches (load + step)": float(np.median(ts)),
                "vs 0 workers": float(np.median(times[0]) / np.median(ts)),
            }
            for w, ts in times.items()
        ],
        ["num_workers", f"s per {batches} batches (load + step)", "vs 0 workers"],
    )
    fixed = _fixed(per_item, 20)
    for b in fixed:  # warm-up: first calls allocate
        step(*b)
    step_only = [timed(lambda: [step(*b) for b in fixed]) / 20 for _ in range(repeat)]
    load_only = [
        timed(lambda: epoch(DataLoader(per_item, batch_size=64), 20)) / 20 for _ in range(repeat)
    ]
    print(
        f"\none step alone {1e3 * float(np.median(step_only)):.1f} ms, loading one batch alone "
        f"{1e3 * float(np.median(load_only)):.1f} ms"
    )


def _fixed(ds, n):
    loader = DataLoader(ds, batch_size=64)
    return [b for _, b in zip(range(n), loader)]


def _per_item_us(ds, n=20000) -> float:
    tf = ds.transform
    raws = [ds.raw_image(i) for i in range(n)]
    t0 = time.perf_counter()
    for r in raws:
        tf(r)
    return 1e6 * (time.perf_counter() - t0) / n


def _row(t: dict) -> dict:
    out = {"minigrad s/epoch": t["minigrad"], "torch s/epoch": t.get("torch", float("nan"))}
    out["ratio"] = out["minigrad s/epoch"] / out["torch s/epoch"]
    return out


if __name__ == "__main__":
    main()
