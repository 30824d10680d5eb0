"""What every example shares: the flags, finding the data, the training loop with a
progress bar, the checkpoint and the pictures.

Each example script builds its model and calls ``run(...)``; everything it writes lands in
``--out`` (default ./out/<example name>):

    inputs.png          a grid of test inputs
    corrupted.png       the corrupted inputs (denoising models)
    reconstructions.png their reconstructions
    filters.png         the first layer's learned filters
    loss.png            training and test loss per epoch
    model.npz           the checkpoint (the model's state_dict)
    history.json        losses per step and per epoch, epoch times
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# NumPy's OpenBLAS threads would compete with minigrad's OpenMP kernels on a small
# machine (a 784-100 MLP step ran ~40x slower with both pools busy), and the kernels do
# the parallel work: one BLAS thread unless the user set it.  Read when NumPy loads, so
# minigrad (which itself sets passive OpenMP waits, see minigrad/__init__.py) and NumPy
# are imported only after this.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parents[1]
try:
    import minigrad as mg
except ImportError:  # running from a built checkout without `pip install .`
    sys.path.insert(0, str(REPO))
    import minigrad as mg

# isort: split
import numpy as np  # noqa: E402

from minigrad import data as D  # noqa: E402
from minigrad import viz  # noqa: E402

# ----------------------------------------------------------------------------- flags


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (epochs, batch size, ...), else a usage error."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def make_parser(description: str, **defaults) -> argparse.ArgumentParser:
    """The flags every example takes; ``defaults`` overrides the per-example defaults."""
    d = dict(dataset="mnist", epochs=1, batch_size=64, lr=1e-3, threads=None, seed=0, limit=None)
    # The shipped digits are 40x fewer (and 12x smaller) images than MNIST: an
    # epoch takes milliseconds, so they get enough epochs for a comparable number
    # of steps and reconstructions worth looking at.
    d["digits_epochs"] = 100
    d.update(defaults)
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--dataset",
        choices=["mnist", "fashion-mnist", "digits"],
        default=d["dataset"],
        help="mnist / fashion-mnist need their IDX files (see --data); digits is shipped "
        "inside the package (default: %(default)s; falls back to digits when absent)",
    )
    p.add_argument(
        "--data",
        default=None,
        help="folder with the IDX files (default: $MINIGRAD_DATA, else ../shared/data "
        "next to the repository)",
    )
    p.add_argument("--download", action="store_true", help="download MNIST if missing")
    p.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        help=f"default: {d['epochs']} on MNIST / Fashion-MNIST, {d['digits_epochs']} on the digits",
    )
    p.set_defaults(epochs_by_dataset=(d["epochs"], d["digits_epochs"]))
    p.add_argument("--batch-size", type=_positive_int, default=d["batch_size"])
    p.add_argument("--lr", type=float, default=d["lr"])
    p.add_argument(
        "--threads", type=_positive_int, default=d["threads"], help="kernel threads (default: all)"
    )
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument(
        "--limit",
        type=_positive_int,
        default=d["limit"],
        help="train on the first N training images only (quick runs)",
    )
    p.add_argument("--out", default=None, help="output folder (default: ./out/<example>)")
    return p


# ----------------------------------------------------------------------------- data


def find_data_root(explicit: str | None) -> str | None:
    """--data, else $MINIGRAD_DATA, else ../shared/data next to the repository. A --data
    folder that does not exist ends the run (a typo must not silently train elsewhere)."""
    if explicit and not os.path.isdir(explicit):
        raise SystemExit(f"error: --data {explicit}: no such folder")
    for candidate in (explicit, os.environ.get("MINIGRAD_DATA"), REPO.parent / "shared" / "data"):
        if candidate and os.path.isdir(candidate):
            return str(candidate)
    return None


def load_data(args) -> tuple:
    """(train dataset, test dataset, name). Falls back to the shipped digits, saying so."""
    if args.dataset != "digits":
        cls = D.MNIST if args.dataset == "mnist" else D.FashionMNIST
        root = find_data_root(args.data)
        try:
            train = cls(root, train=True, download=args.download)
            test = cls(root, train=False, download=args.download)
            if args.limit:
                train = D.Subset(train, np.arange(min(args.limit, len(train))))
            if args.epochs is None:
                args.epochs = args.epochs_by_dataset[0]
            return train, test, args.dataset
        except (FileNotFoundError, ConnectionError) as e:
            first_line = str(e).splitlines()[0]
            print(
                f"note: {args.dataset} not available ({first_line}).\n"
                "      Falling back to the 8x8 digits shipped with minigrad "
                "(1,797 images; use --data DIR or --download for MNIST).",
                flush=True,
            )
    if args.epochs is None:
        args.epochs = args.epochs_by_dataset[1]
    digits = D.Digits()
    # the fixed split random_split(seed=0) made before it took PyTorch's generator=
    perm = np.random.default_rng(0).permutation(len(digits))
    train, test = D.Subset(digits, perm[:1500]), D.Subset(digits, perm[1500:])
    if args.limit:
        train = D.Subset(train.dataset, train.indices[: args.limit])
    return train, test, "digits"


def image_shape(dataset) -> tuple:
    x, _ = dataset[np.arange(1)]
    return x.shape[1:]


def all_images(dataset, n: int | None = None) -> np.ndarray:
    n = len(dataset) if n is None else min(n, len(dataset))
    return dataset[np.arange(n)][0]


# ----------------------------------------------------------------------------- progress


class Progress:
    """One status line per epoch: bar, running loss, examples/s (redrawn in place on a tty)."""

    def __init__(self, total: int, prefix: str, width: int = 24):
        self.total, self.prefix, self.width = total, prefix, width
        self.start = time.perf_counter()
        self.tty = sys.stdout.isatty()
        self.last_draw = 0.0

    def update(self, done: int, seen: int, loss: float, final: bool = False) -> None:
        now = time.perf_counter()
        if not final and (not self.tty or now - self.last_draw < 0.1):
            return
        self.last_draw = now
        filled = int(self.width * done / max(self.total, 1))
        rate = seen / max(now - self.start, 1e-9)
        line = (
            f"{self.prefix} [{'#' * filled}{'.' * (self.width - filled)}] "
            f"{done}/{self.total} loss {loss:.4f} {rate:,.0f} ex/s"
        )
        end = "\n" if final else ""
        print(("\r" if self.tty else "") + line, end=end, flush=True)


# ----------------------------------------------------------------------------- training


def evaluate(model, x: np.ndarray, batch_size: int = 500) -> dict:
    """Mean of model.loss and reconstruction errors of model(x) against x, without noise."""
    was_training = model.training
    model.eval()
    losses, sq = [], 0.0
    with mg.no_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size]
            losses.append(float(model.loss(mg.tensor(xb)).item()) * len(xb))
            rec = model(mg.tensor(xb)).numpy().reshape(xb.shape)
            sq += float(((rec.astype(np.float64) - xb) ** 2).sum())
    model.train(was_training)
    n, d = len(x), int(np.prod(x.shape[1:]))
    return {"loss": sum(losses) / n, "mse": sq / (n * d), "sq_err_per_image": sq / n}


def train(model, optimizer, train_set, test_x, args, name: str) -> dict:
    """Mini-batch training of ``model.loss``; returns per-epoch history and timings."""
    # shuffled by the global generator, which setup() seeded with --seed
    loader = D.DataLoader(train_set, args.batch_size, shuffle=True, drop_last=True)
    history = {"train": [], "test": [], "test_mse": [], "epoch_seconds": [], "steps": []}
    for epoch in range(1, args.epochs + 1):
        model.train()
        bar = Progress(len(loader), f"{name} epoch {epoch}/{args.epochs}")
        t0 = time.perf_counter()
        total, seen = 0.0, 0
        for step, (x, _) in enumerate(loader, 1):
            loss = model.loss(mg.tensor(x))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            history["steps"].append(float(loss.item()))
            total += history["steps"][-1] * len(x)
            seen += len(x)
            bar.update(step, seen, total / seen)
        # Long runs (100 epochs on the digits) report about ten epochs, not every one.
        report = epoch in (1, args.epochs) or epoch % max(1, args.epochs // 10) == 0
        if report:
            bar.update(len(loader), seen, total / max(seen, 1), final=True)
        history["epoch_seconds"].append(time.perf_counter() - t0)
        history["train"].append(total / max(seen, 1))
        ev = evaluate(model, test_x)
        history["test"].append(ev["loss"])
        history["test_mse"].append(ev["mse"])
        if not report:
            continue
        print(
            f"  test loss {ev['loss']:.4f}  test MSE {ev['mse']:.5f} per pixel "
            f"({ev['sq_err_per_image']:.2f} per image)  epoch time "
            f"{history['epoch_seconds'][-1]:.1f} s",
            flush=True,
        )
    return history


# ----------------------------------------------------------------------------- output


def save_checkpoint(model, path: Path) -> None:
    """The model's state_dict, written atomically by mg.save (load it with mg.load and
    model.load_state_dict)."""
    mg.save(model.state_dict(), str(path))


def save_pictures(
    out: Path,
    model,
    test_x: np.ndarray,
    history: dict,
    filters: np.ndarray | None = None,
    n: int = 64,
) -> None:
    """inputs.png, corrupted.png (when the model corrupts), reconstructions.png,
    filters.png, loss.png."""
    x = test_x[:n]
    scale = max(1, 56 // x.shape[-1])  # draw 8x8 digits as large as 28x28 ones
    viz.save_image_grid(out / "inputs.png", x, ncol=8, scale=scale)
    model.eval()
    with mg.no_grad():
        shown = x
        if getattr(getattr(model, "corruption", None), "noise", None):
            shown = model.corrupt(x, force=True)
            viz.save_image_grid(out / "corrupted.png", shown, ncol=8, scale=scale)
        rec = model(mg.tensor(shown)).numpy().reshape(x.shape)
    viz.save_image_grid(out / "reconstructions.png", rec, ncol=8, scale=scale)
    if filters is not None:
        viz.save_filters(out / "filters.png", filters, scale=scale)
    # per-step training loss against epochs, test loss after each epoch, log scale
    steps = np.asarray(history["steps"])
    window = max(1, len(steps) // 200)  # a running mean, so the trend shows through the noise
    steps = np.convolve(steps, np.ones(window) / window, mode="valid")
    epochs = len(history["test"])
    curves = {
        "train": (np.arange(1, len(steps) + 1) * epochs / max(len(steps), 1), steps),
        "test": (np.arange(1, epochs + 1), history["test"]),
    }
    viz.save_curves(out / "loss.png", curves, log_y=bool(np.all(steps > 0)))


def setup(args, example: str) -> Path:
    if args.threads:
        mg.set_num_threads(args.threads)
    mg.manual_seed(args.seed)
    out = Path(args.out) if args.out else Path("out") / example
    out.mkdir(parents=True, exist_ok=True)
    return out


def finish(out: Path, model, test_x, history, filters=None) -> None:
    save_pictures(out, model, test_x, history, filters)
    save_checkpoint(model, out / "model.npz")
    with open(out / "history.json", "w") as f:  # the numbers behind loss.png
        json.dump({k: v for k, v in history.items() if k != "model"}, f)
    print(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}/", flush=True)


def run(args, example: str, build_model, filters=None, data=None) -> dict:
    """The whole job: data (``data``, the result of ``load_data(args)``, when the example
    loaded it already), model (``build_model(image_shape)``), Adam training, evaluation,
    pictures and checkpoint. Returns the history, with the trained model under "model" and
    the output folder under "out"."""
    from minigrad import optim

    out = setup(args, example)
    train_set, test_set, name = data or load_data(args)
    if len(train_set) < args.batch_size:
        raise SystemExit(
            f"error: --batch-size {args.batch_size} is larger than the {len(train_set)} "
            "training images (every batch is full, so no step would run)"
        )
    shape = image_shape(train_set)
    test_x = all_images(test_set)
    model = build_model(shape)
    n_params = sum(int(np.prod(p.shape)) for p in model.parameters())
    print(
        f"{example}: {name}, {len(train_set)} train / {len(test_x)} test images of shape "
        f"{shape}; {n_params:,} parameters; {mg.get_num_threads()} thread(s)",
        flush=True,
    )
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    history = train(model, optimizer, train_set, test_x, args, example)
    finish(out, model, test_x, history, model.filters() if filters is None else filters)
    history["model"], history["out"] = model, out
    return history
