"""What every example shares: the flags, finding the data, progress bars, checkpoints that a
run resumes from, and the pictures (matplotlib).

An example builds its model and calls ``run(args, name, build_model)``; everything it writes
lands in ``--out`` (default ./out/<example name>):

    inputs.png          a grid of test inputs
    corrupted.png       the corrupted inputs (denoising models)
    reconstructions.png their reconstructions
    filters.png         the first layer's learned filters
    loss.png            training and test loss against epochs
    test_error.png      test squared error per image against epochs
    model.npz           the trained model's state_dict (mg.load + model.load_state_dict)
    checkpoint.npz      model, optimizer, epoch and history after the last finished epoch:
                        ``--resume`` continues from it
    history.json        the numbers behind the curves, epoch times

Examples with their own loops use the pieces: ``make_parser``, ``setup``, ``load_data``,
``progress``, ``save_checkpoint`` / ``load_checkpoint`` and the ``save_*`` picture
functions. They need the ``examples`` extra: ``pip install ".[examples]"`` (matplotlib,
tqdm); the minigrad package itself needs only NumPy.

Under ``mpirun -n N`` (minigrad.distributed, ``pip install ".[mpi]"``) ``train()`` and
``run()`` are data-parallel: each step, rank r takes its ``--batch-size`` slice of a global
batch of N x ``--batch-size`` images, the gradients are averaged over the ranks, and rank 0
alone prints, draws progress and writes files. An example whose loop is its own says so
and stops instead of running N identical copies (``setup(..., data_parallel=False)``).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import textwrap
import time
from collections.abc import Mapping, Sequence
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

import minigrad.distributed as dist  # noqa: E402
from minigrad import data as D  # noqa: E402

try:
    from matplotlib.figure import Figure  # noqa: E402
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter  # noqa: E402
    from tqdm import tqdm  # noqa: E402
except ImportError as e:  # pragma: no cover - depends on the environment
    raise SystemExit(
        f"error: the examples need matplotlib and tqdm ({e}); install them with\n"
        '       pip install ".[examples]"   (from the minigrad checkout)'
    ) from None

# ----------------------------------------------------------------------------- flags


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (epochs, batch size, ...), else a usage error."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


_positive_int = positive_int  # the name examples used before; both stay valid


def make_parser(description: str, resumable: bool = False, **defaults) -> argparse.ArgumentParser:
    """The flags every example takes; ``defaults`` overrides the per-example defaults
    (dataset, epochs, digits_epochs, batch_size, lr, threads, seed, limit). ``resumable``
    adds ``--resume`` (continue from ``<out>/checkpoint.npz``); only examples whose
    training loop honours it should ask for it."""
    d = dict(dataset="mnist", epochs=1, batch_size=64, lr=1e-3, threads=None, seed=0, limit=None)
    # The shipped digits are 40x fewer (and 12x smaller) images than MNIST: an
    # epoch takes milliseconds, so they get enough epochs for a comparable number
    # of steps and reconstructions worth looking at.
    d["digits_epochs"] = 100
    d.update(defaults)
    p = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
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
        type=positive_int,
        default=None,
        help=f"default: {d['epochs']} on MNIST / Fashion-MNIST, {d['digits_epochs']} on the digits",
    )
    p.set_defaults(epochs_by_dataset=(d["epochs"], d["digits_epochs"]))
    p.add_argument("--batch-size", type=positive_int, default=d["batch_size"])
    p.add_argument("--lr", type=float, default=d["lr"], help="learning rate (default: %(default)s)")
    p.add_argument(
        "--threads", type=positive_int, default=d["threads"], help="kernel threads (default: all)"
    )
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument(
        "--limit",
        type=positive_int,
        default=d["limit"],
        help="train on the first N training images only (quick runs)",
    )
    p.add_argument("--out", default=None, help="output folder (default: ./out/<example>)")
    if resumable:
        p.add_argument(
            "--resume",
            action="store_true",
            help="continue from <out>/checkpoint.npz (written after every epoch) with the "
            "same flags; --epochs may be raised to train longer",
        )
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
    """(train dataset, test dataset, name). Falls back to the shipped digits, saying so;
    sets ``args.epochs`` to the dataset's default when the user gave none."""
    if args.dataset == "digits" and args.data:
        raise SystemExit(
            "error: --data names a folder of MNIST / Fashion-MNIST IDX files, but --dataset "
            "digits trains on the digits shipped inside minigrad; drop one of the two"
        )
    if args.dataset != "digits":
        cls = D.MNIST if args.dataset == "mnist" else D.FashionMNIST
        root = find_data_root(args.data)
        if args.download and dist.world_size() > 1:
            # rank 0 fetches the files; the others then find them instead of downloading
            # the same files into the same folder at the same moment
            if dist.is_main_process():
                try:
                    cls(root, train=True, download=True)
                    cls(root, train=False, download=True)
                except (FileNotFoundError, ConnectionError):
                    pass  # every rank meets the same error below and falls back alike
            dist.barrier()
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
            if args.data:  # the user named this folder: training on other data is wrong
                raise SystemExit(f"error: --data {args.data}: {first_line}") from None
            say(
                f"note: {args.dataset} not available ({first_line}).\n"
                "      Falling back to the 8x8 digits shipped with minigrad "
                "(1,797 images; use --data DIR or --download for MNIST)."
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


def _array(x) -> np.ndarray:
    """A dataset item or batch as a NumPy array, whether it is an array or a Tensor."""
    return x.numpy() if isinstance(x, mg.Tensor) else np.asarray(x)


def image_shape(dataset) -> tuple:
    """(C, H, W) of the dataset's images."""
    x, _ = dataset[np.arange(1)]
    return tuple(_array(x).shape[1:])


def all_images(dataset, n: int | None = None) -> np.ndarray:
    """The first ``n`` (default all) images of the dataset, float32 (N, C, H, W)."""
    n = len(dataset) if n is None else min(n, len(dataset))
    return np.asarray(_array(dataset[np.arange(n)][0]), dtype=np.float32)


def all_labels(dataset, n: int | None = None) -> np.ndarray:
    """The first ``n`` (default all) labels of the dataset, int64 (N,)."""
    n = len(dataset) if n is None else min(n, len(dataset))
    return np.asarray(_array(dataset[np.arange(n)][1]), dtype=np.int64)


# ----------------------------------------------------------------------------- progress

#: Seconds between progress lines when the output is not a terminal (a log file, a pipe);
#: $MINIGRAD_PROGRESS_SECONDS overrides it.
LOG_EVERY = float(os.environ.get("MINIGRAD_PROGRESS_SECONDS", "5"))


class _LineWriter(io.TextIOBase):
    """tqdm redraws its status line in place with '\\r'; in a log file that piles every
    redraw onto one endless line. This writes each redraw as a line of its own."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        line = text.replace("\r", "").strip()
        if line:
            self.stream.write(line + "\n")
            self.stream.flush()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def progress(total: int | None = None, desc: str = "", unit: str = "img", **kwargs) -> tqdm:
    """A tqdm progress bar on stderr. On a terminal it redraws in place; otherwise (output
    sent to a file or a pipe) it prints a plain status line every ``LOG_EVERY`` seconds and
    when it closes, so a background run's log shows it moving.

    Use as tqdm: ``bar.update(n)``, ``bar.set_postfix(loss=...)``, ``bar.close()`` (or a
    ``with`` block); ``leave=False`` for bars that should not stay on the screen."""
    stream = sys.stderr
    if not stream.isatty():
        kwargs.setdefault("mininterval", LOG_EVERY)
        kwargs.setdefault("delay", LOG_EVERY)  # no "0%" line for a bar done in seconds
        kwargs.setdefault("ascii", True)
        kwargs.setdefault("ncols", 100)
        stream = _LineWriter(stream)
    kwargs.setdefault("dynamic_ncols", stream is sys.stderr)
    kwargs.setdefault("disable", not dist.is_main_process())  # one bar per job, rank 0's
    return tqdm(total=total, desc=desc, unit=unit, file=stream, **kwargs)


def say(*parts) -> None:
    """print() that does not break a progress bar drawn on the same terminal; on rank 0
    only under mpirun."""
    if not dist.is_main_process():
        return
    tqdm.write(" ".join(str(p) for p in parts), file=sys.stdout)
    sys.stdout.flush()


# ----------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: Path | str, model, optimizer=None, **state) -> None:
    """Write the model's state_dict, the optimizer's state and any ``state`` (epoch,
    history, flags: dicts, lists, numbers, arrays) to ``path`` atomically (mg.save writes a
    temporary file and renames it, so an interrupted run leaves the previous checkpoint).
    Rank 0 alone writes under mpirun (every rank holds the same model and optimizer)."""
    if not dist.is_main_process():
        return
    obj = {"model": model.state_dict(), **state}
    if optimizer is not None:
        obj["optimizer"] = optimizer.state_dict()
    mg.save(obj, str(path))


def save_model(model, path: Path | str) -> None:
    """``mg.save(model.state_dict(), path)``, by rank 0 alone under mpirun."""
    if dist.is_main_process():
        mg.save(model.state_dict(), str(path))


def load_checkpoint(path: Path | str, model=None, optimizer=None) -> dict:
    """Read a checkpoint written by ``save_checkpoint``, load its model and optimizer state
    into ``model`` / ``optimizer`` (when given), and return the whole dict. Under mpirun
    rank 0 reads it and sends it to the others (rank 0 wrote it, on its own disk)."""

    def read() -> dict:
        if not Path(path).is_file():
            raise SystemExit(f"error: --resume: no checkpoint at {path} to resume from")
        return mg.load(str(path))

    state = on_main_then_everywhere(read)
    if model is not None:
        model.load_state_dict(state["model"])
    if optimizer is not None:
        if "optimizer" not in state:
            raise SystemExit(f"error: {path} holds no optimizer state to resume with")
        optimizer.load_state_dict(state["optimizer"])
    return state


#: Flags that may differ between a run and the run that resumes it.
RESUME_MAY_CHANGE = ("epochs", "resume", "out", "threads", "data", "download", "epochs_by_dataset")


def flags_of(args) -> dict:
    """The flags that define a run (saved in its checkpoints), JSON-friendly."""
    return {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in sorted(vars(args).items())
        if k not in RESUME_MAY_CHANGE
    }


def check_same_flags(saved: dict, args, path) -> None:
    """Refuse to resume a checkpoint written with other flags (other sizes, another
    dataset, ...): the run would silently mix two experiments."""
    now = flags_of(args)
    differ = [k for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k)]
    if differ:
        items = ", ".join(
            f"--{k.replace('_', '-')} {saved.get(k)!r} -> {now.get(k)!r}" for k in differ
        )
        raise SystemExit(
            f"error: --resume: {path} was written with other flags ({items}); resume with "
            "the same flags, or write to another --out"
        )


# ----------------------------------------------------------------------------- training


def evaluate(model, x: np.ndarray, batch_size: int = 500) -> dict:
    """Mean of model.loss and reconstruction errors of model(x) against x, without noise.
    Under mpirun each rank scores every N-th image and the sums are added up."""
    was_training = model.training
    model.eval()
    mine = x[dist.rank() :: dist.world_size()]
    loss_sum, sq = 0.0, 0.0
    with mg.no_grad():
        for i in range(0, len(mine), batch_size):
            xb = mine[i : i + batch_size]
            loss_sum += float(model.loss(mg.tensor(xb)).item()) * len(xb)
            rec = model(mg.tensor(xb)).numpy().reshape(xb.shape)
            sq += float(((rec.astype(np.float64) - xb) ** 2).sum())
    model.train(was_training)
    loss_sum, sq = dist.all_reduce(np.array([loss_sum, sq]), "sum")
    n, d = len(x), int(np.prod(x.shape[1:]))
    return {"loss": loss_sum / n, "mse": sq / (n * d), "sq_err_per_image": sq / n}


def new_history() -> dict:
    return {
        "train": [],
        "test": [],
        "test_mse": [],
        "test_sq_err": [],
        "epoch_seconds": [],
        "steps": [],
        "lr": [],
    }


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The shuffled order of epoch ``epoch``: a function of (seed, epoch) alone, so a run
    resumed at epoch k sees the same batches as one that never stopped."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def check_batch_fits(n: int, args, what: str = "training images") -> None:
    """Stop with a message when one step's batch (--batch-size on each rank) needs more
    than the ``n`` items there are: every batch is full, so no step would run."""
    if n < args.batch_size * dist.world_size():
        ranks = f" on each of {dist.world_size()} ranks" if dist.world_size() > 1 else ""
        raise SystemExit(
            f"error: --batch-size {args.batch_size}{ranks} is larger than the {n} {what} "
            "(every batch is full, so no step would run)"
        )


def batches_of_this_rank(order: np.ndarray, batch_size: int) -> list:
    """Index arrays of this process's batches, in ``order``. Alone: consecutive slices of
    ``batch_size``. Rank r of N: step s's global batch is order[s*N*B : (s+1)*N*B] and
    this rank takes its r-th slice of B, so N ranks with --batch-size B make the steps of
    one process with batch N*B. Full batches only."""
    n, r = dist.world_size(), dist.rank()
    step = n * batch_size
    return [
        order[s + r * batch_size : s + (r + 1) * batch_size]
        for s in range(0, len(order) - step + 1, step)
    ]


def on_main_then_everywhere(fn):
    """``fn()`` on rank 0, its result sent to every rank (alone: just ``fn()``). A
    SystemExit or other error on rank 0 ends every rank the same way, so no rank is left
    waiting for the broadcast."""
    if dist.world_size() == 1:
        return fn()
    result, error = None, None
    if dist.is_main_process():
        try:
            result = fn()
        except (SystemExit, Exception) as e:
            error = e if isinstance(e, SystemExit) else SystemExit(f"error: {e}")
    error, result = dist.get_comm().bcast((error, result), root=0)
    if error is not None:
        raise SystemExit(error.code if dist.is_main_process() else 2)
    return result


def train(
    model,
    optimizer,
    train_x: np.ndarray,
    test_x: np.ndarray,
    args,
    name: str,
    history: dict | None = None,
    start_epoch: int = 1,
    lr_at=None,
    after_epoch=None,
) -> dict:
    """Mini-batch training of ``model.loss`` on ``train_x`` from ``start_epoch`` to
    ``args.epochs``; after each epoch the test loss and squared error are measured and
    ``after_epoch(epoch, history)`` is called (run() writes the checkpoint there).
    ``lr_at(epoch)`` sets the learning rate of each epoch (default: constant)."""
    history = history if history is not None else new_history()
    caller = dist.data_parallel(model)  # the model itself unless under mpirun -n N > 1
    for epoch in range(start_epoch, args.epochs + 1):
        model.train()
        if lr_at is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(epoch)
        # Long runs (100 epochs on the digits) report about ten epochs, not every one.
        report = epoch in (start_epoch, args.epochs) or epoch % max(1, args.epochs // 10) == 0
        batches = batches_of_this_rank(epoch_order(len(train_x), args.seed, epoch), args.batch_size)
        n_batches = len(batches)  # full batches only
        bar = progress(
            n_batches * args.batch_size, f"{name} epoch {epoch}/{args.epochs}", leave=report
        )
        t0 = time.perf_counter()
        total = 0.0
        for step, idx in enumerate(batches):
            xb = train_x[idx]
            loss = caller.loss(mg.tensor(xb))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            history["steps"].append(float(loss.item()))
            total += history["steps"][-1]
            bar.update(len(xb))
            bar.set_postfix(loss=f"{total / (step + 1):.4f}", refresh=False)
        bar.close()
        seconds = time.perf_counter() - t0
        rate = dist.throughput(n_batches * args.batch_size, seconds)  # all ranks together
        history["epoch_seconds"].append(seconds)
        history["train"].append(dist.all_reduce(total / max(n_batches, 1), "mean"))
        history["lr"].append(optimizer.param_groups[0]["lr"])
        history.setdefault("examples_per_second", []).append(rate)
        ev = evaluate(model, test_x)
        history["test"].append(ev["loss"])
        history["test_mse"].append(ev["mse"])
        history["test_sq_err"].append(ev["sq_err_per_image"])
        if report or history["epoch_seconds"][-1] > LOG_EVERY:
            say(
                f"  epoch {epoch}: test loss {ev['loss']:.4f}, squared error "
                f"{ev['sq_err_per_image']:.2f} per image ({ev['mse']:.5f} per pixel), "
                f"{history['epoch_seconds'][-1]:.1f} s, {rate:,.0f} ex/s"
            )
        if after_epoch is not None:
            after_epoch(epoch, history)
    return history


# ----------------------------------------------------------------------------- pictures


def tile(images: np.ndarray, ncol: int | None = None, pad: int = 1, pad_value: float = 1.0):
    """Images (N, H, W) laid out row by row in a grid of ``ncol`` columns (default: about
    square), ``pad`` pixels of ``pad_value`` between them; returns one (H', W') array."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3 or images.shape[0] == 0:
        raise ValueError(f"images: expected a non-empty (N, H, W) array, got {images.shape}")
    n, h, w = images.shape
    ncol = ncol or int(math.ceil(math.sqrt(n)))
    if ncol < 1 or pad < 0:
        raise ValueError(f"expected ncol >= 1 and pad >= 0, got ncol={ncol}, pad={pad}")
    nrow = int(math.ceil(n / ncol))
    grid = np.full((nrow * (h + pad) - pad, ncol * (w + pad) - pad), float(pad_value))
    for i, img in enumerate(images):
        r, c = divmod(i, ncol)
        grid[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = img
    return grid


def as_images(x: np.ndarray, shape: tuple | None = None) -> np.ndarray:
    """(N, H, W) from (N, H, W), (N, 1, H, W) or flat (N, D) rows (square, or ``shape``)."""
    x = np.asarray(_array(x), dtype=np.float64)
    if x.ndim == 4 and x.shape[1] == 1:
        return x[:, 0]
    if x.ndim == 3:
        return x
    if x.ndim == 2:
        if shape is None:
            side = int(round(math.sqrt(x.shape[1])))
            if side * side != x.shape[1]:
                raise ValueError(f"rows of {x.shape[1]} values are not square images: give shape")
            shape = (side, side)
        if int(np.prod(shape)) != x.shape[1]:
            raise ValueError(f"shape {shape} does not hold rows of {x.shape[1]} values")
        return x.reshape(len(x), *shape)
    raise ValueError(f"expected images (N, H, W), (N, 1, H, W) or rows (N, D), got {x.shape}")


def stretch(filters: np.ndarray, clip_percent: float = 1.0) -> np.ndarray:
    """Each filter mapped on its own to [0, 1]: its ``clip_percent``-th and
    (100 - ``clip_percent``)-th percentile weights become 0 and 1 (so one extreme weight
    does not wash out the rest). Zero is not kept at grey: dark means most negative."""
    f = np.asarray(filters, dtype=np.float64)
    flat = f.reshape(len(f), -1)
    lo = np.percentile(flat, clip_percent, axis=1)[:, None]
    hi = np.percentile(flat, 100 - clip_percent, axis=1)[:, None]
    return np.clip((flat - lo) / np.maximum(hi - lo, 1e-12), 0, 1).reshape(f.shape)


def _save_picture(path, picture: np.ndarray, title: str, caption: str | None, target=720):
    """Draw ``picture`` (values in [0, 1], grey) with every pixel an integer number of
    screen pixels wide (about ``target`` pixels across), a title above it and an optional
    caption below."""
    ph, pw = picture.shape
    scale = max(2, int(round(target / pw)))
    iw, ih = pw * scale, ph * scale
    dpi = 100
    width = max(iw + 20, 640)
    # about 7 pixels per character at font size 9: wrap the caption to the figure
    lines = textwrap.wrap(caption, max(40, (width - 20) // 7)) if caption else []
    heading = textwrap.wrap(title, max(30, (width - 20) // 9))  # ~9 pixels a character
    top, bottom = 30 + 20 * len(heading), 20 + 16 * len(lines)
    height = ih + top + bottom
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    ax = fig.add_axes(((width - iw) / 2 / width, bottom / height, iw / width, ih / height))
    ax.imshow(picture, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    fig.text(0.5, 1 - 12 / height, "\n".join(heading), ha="center", va="top", fontsize=12)
    if caption:
        fig.text(
            0.5, 8 / height, "\n".join(lines), ha="center", va="bottom", fontsize=9, color="0.25"
        )
    _write(fig, path)


def _write(fig, path) -> None:
    """Save a figure as PNG atomically (rank 0's job under mpirun)."""
    if not dist.is_main_process():
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png", dpi=fig.dpi)
    os.replace(tmp, path)  # a reader never sees half a picture


def save_image_grid(path, images, title: str, ncol: int = 8, caption: str | None = None):
    """Images (values in [0, 1]; (N, H, W), (N, 1, H, W) or square rows) in a grid,
    upscaled with square pixels, titled."""
    _save_picture(path, tile(np.clip(as_images(images), 0, 1), ncol), title, caption)


def save_filters(
    path,
    weights,
    title: str,
    shape: tuple | None = None,
    ncol: int | None = None,
    clip_percent: float = 1.0,
    caption: str | None = "each filter stretched to its own range: black = its most negative "
    "weights, white = its most positive",
):
    """Learned filters (one per row of ``weights``, or (N, H, W) / (N, 1, H, W) kernels)
    as a grid of upscaled images, each contrast-stretched on its own (``stretch``)."""
    images = stretch(as_images(weights, shape), clip_percent)
    _save_picture(path, tile(images, ncol, pad=1, pad_value=0.5), title, caption)


def save_curves(
    path,
    curves: Mapping[str, Sequence | tuple],
    title: str,
    xlabel: str = "epoch",
    ylabel: str = "loss",
    log_y: bool = False,
    refs: Mapping[str, float] | None = None,
):
    """Line plot: ``curves`` maps a label to y values (x = 1, 2, ...) or to (x, y);
    ``refs`` maps a label to a constant drawn as a dashed horizontal line. The legend sits
    outside the axes, right of the plot, so it never hides a line."""
    fig = Figure(figsize=(8, 4.2), dpi=100)
    ax = fig.add_subplot()
    all_x = []
    for label, c in curves.items():
        if isinstance(c, tuple) and len(c) == 2:
            x, y = np.asarray(c[0], float), np.asarray(c[1], float)
        else:
            y = np.asarray(c, float)
            x = np.arange(1, len(y) + 1, dtype=float)
        if x.shape != y.shape:
            raise ValueError(f"curve {label!r}: x has {x.shape} values, y has {y.shape}")
        ax.plot(x, y, label=label, marker="o" if len(y) <= 40 else None, markersize=3)
        all_x.append(x)
    for i, (label, value) in enumerate((refs or {}).items()):
        ax.axhline(value, linestyle="--", linewidth=1, color=f"C{len(curves) + i}", label=label)
    xs = np.concatenate(all_x) if all_x else np.zeros(0)
    if xs.size and np.all(xs == np.round(xs)):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if log_y:
        _log_axis(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    # over the whole figure, not the axes: the legend beside the axes narrows them, and a
    # title centred on them ran off the figure's left edge
    fig.suptitle(_wrap(title, 80))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, frameon=False)
    fig.tight_layout()
    _write(fig, path)


def _wrap(text: str, width: int) -> str:
    """``text`` with each of its lines wrapped at ``width`` characters."""
    return "\n".join(w for line in text.split("\n") for w in (textwrap.wrap(line, width) or [""]))


def _log_axis(ax) -> None:
    """A log y axis labelled with plain numbers (0.3, 40) instead of 3x10^-1; the minor
    ticks are labelled too when the axis spans less than a factor of 20."""
    ax.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    lo, hi = ax.get_ylim()
    ax.yaxis.set_minor_formatter(plain if hi < 20 * lo else NullFormatter())


def save_histogram(
    path,
    values,
    title: str,
    xlabel: str,
    ylabel: str = "count",
    bins: int = 50,
    marks: Mapping[str, float] | None = None,
    log_y: bool = False,
    range: tuple[float, float] | None = None,
):
    """Histogram of ``values`` (over ``range``, default theirs); ``marks`` maps a label to
    an x drawn as a dashed vertical line (a target, a mean). Legend outside the axes."""
    fig = Figure(figsize=(8, 4.2), dpi=100)
    ax = fig.add_subplot()
    ax.hist(np.asarray(values, float).ravel(), bins=bins, range=range, color="C0", label="count")
    for i, (label, x) in enumerate((marks or {}).items()):
        ax.axvline(x, linestyle="--", linewidth=1.5, color=f"C{i + 1}", label=label)
    if log_y:
        _log_axis(ax)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    # over the whole figure, not the axes: the legend beside the axes narrows them, and a
    # title centred on them ran off the figure's left edge
    fig.suptitle(_wrap(title, 80))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, frameon=False)
    fig.tight_layout()
    _write(fig, path)


def loss_label(model) -> str:
    """What model.loss measures, for an axis label."""
    kind = getattr(getattr(model, "recon_loss", None), "kind", None)
    base = {"bce": "cross-entropy per pixel (nats)", "mse": "squared error per pixel"}.get(
        kind, "loss"
    )
    extras = []
    if getattr(model, "beta", None):
        extras.append("KL sparsity")
    if getattr(model, "weight_decay", 0):
        extras.append("L2")
    return base + (" + " + " + ".join(extras) if extras else "")


def save_pictures(
    out: Path,
    model,
    test_x: np.ndarray,
    history: dict,
    name: str,
    filters: np.ndarray | None = None,
    refs: Mapping[str, float] | None = None,
    n: int = 64,
) -> None:
    """inputs.png, corrupted.png (when the model corrupts), reconstructions.png,
    filters.png, loss.png, test_error.png."""
    x = test_x[:n]
    save_image_grid(out / "inputs.png", x, f"{name}: test inputs")
    model.eval()
    with mg.no_grad():
        shown = x
        corruption = getattr(model, "corruption", None)
        if getattr(corruption, "noise", None):
            shown = model.corrupt(x, force=True)
            what = "masking noise, q" if corruption.noise == "mask" else "Gaussian noise, sigma"
            save_image_grid(
                out / "corrupted.png",
                shown,
                f"{name}: corrupted inputs ({what} = {corruption.level})",
            )
        rec = model(mg.tensor(shown)).numpy().reshape(x.shape)
    epochs = len(history["test"])
    save_image_grid(
        out / "reconstructions.png",
        rec,
        f"{name}: reconstructions after {epochs} epoch{'s' * (epochs != 1)}",
    )
    if filters is not None:
        filters = np.asarray(filters)
        save_filters(
            out / "filters.png",
            filters.reshape(len(filters), *x.shape[-2:]) if filters.ndim == 2 else filters,
            f"{name}: first-layer filters ({len(filters)} units)",
        )
    # per-step training loss (a running mean over ~1/20 epoch, so the trend shows through
    # the noise) against epochs, test loss after each epoch
    steps = np.asarray(history["steps"], dtype=float)
    per_epoch = max(1, len(steps) // max(epochs, 1))
    window = max(1, min(per_epoch // 20, len(steps)))
    smooth = np.convolve(steps, np.ones(window) / window, mode="valid")
    curves = {
        "training (running mean)": (np.arange(window, len(steps) + 1) / per_epoch, smooth),
        "test (end of epoch)": (np.arange(1, epochs + 1), history["test"]),
    }
    both = np.concatenate([smooth, history["test"]])
    log_y = bool(np.all(both > 0) and both.max() > 10 * both.min())
    save_curves(
        out / "loss.png",
        curves,
        f"{name}: loss",
        xlabel="epoch",
        ylabel=loss_label(model),
        log_y=log_y,
    )
    errors = np.asarray(history["test_sq_err"], dtype=float)
    save_curves(
        out / "test_error.png",
        {"test images": errors},
        f"{name}: reconstruction error on the test images",
        xlabel="epoch",
        ylabel="squared error per image (sum over pixels)",
        refs=refs,
        log_y=bool(len(errors) and errors.min() > 0 and errors.max() > 5 * errors.min()),
    )


def setup(args, example: str, data_parallel: bool = True) -> Path:
    """MPI when mpirun started this process, threads, seed, and the output folder
    (created); returns the folder. ``data_parallel=False``: an example whose training loop
    is its own (not ``train``/``run``) stops under mpirun -n N > 1 rather than running N
    identical copies."""
    if dist.launched_by_mpi():
        dist.init(num_threads=args.threads or "auto")  # "auto": cores shared out by rank
        if dist.world_size() > 1 and not data_parallel:
            raise SystemExit(  # every rank stops here; rank 0 says why
                f"error: {example} trains in one process only; run it without mpirun "
                "(the data-parallel examples: autoencoder, conv_autoencoder, "
                "denoising_autoencoder, sparse_autoencoder, deep_autoencoder, lenet, segment, "
                "variable_size)"
                if dist.is_main_process()
                else 2
            )
    if args.threads:
        mg.set_num_threads(args.threads)
    mg.manual_seed(args.seed)
    out = Path(args.out) if args.out else Path("out") / example
    if dist.is_main_process():
        out.mkdir(parents=True, exist_ok=True)
    return out


def threads_line() -> str:
    """'2 thread(s)', or '1 thread(s) on each of 4 ranks' under mpirun."""
    n = dist.world_size()
    return f"{mg.get_num_threads()} thread(s)" + (f" on each of {n} ranks" if n > 1 else "")


def finish(out: Path, model, test_x, history, name: str, filters=None, refs=None) -> None:
    """Pictures, model.npz and history.json (rank 0's job under mpirun)."""
    if not dist.is_main_process():
        return
    save_pictures(out, model, test_x, history, name, filters, refs)
    save_model(model, out / "model.npz")
    with open(out / "history.json", "w") as f:  # the numbers behind the curves
        json.dump({k: v for k, v in history.items() if k not in ("model", "out")}, f)
    say(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}/")


def run(
    args, example: str, build_model, filters=None, data=None, refs=None, title: str | None = None
) -> dict:
    """The whole job: data (``data``, the result of ``load_data(args)``, when the example
    loaded it already), model (``build_model(image_shape)``), Adam training with a
    checkpoint after every epoch (``--resume`` continues from it), evaluation, pictures.
    Returns the history, with the trained model under "model" and the output folder under
    "out". ``title`` names the model in the pictures (default: from ``example``)."""
    from minigrad import optim

    out = setup(args, example)
    train_set, test_set, name = data or load_data(args)
    check_batch_fits(len(train_set), args)
    shape = image_shape(train_set)
    train_x, test_x = all_images(train_set), all_images(test_set)
    model = build_model(shape)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    ckpt = out / "checkpoint.npz"
    history, start = new_history(), 1
    if getattr(args, "resume", False):
        state = load_checkpoint(ckpt, model, optimizer)
        check_same_flags(state["flags"], args, ckpt)
        history, start = state["history"], state["epoch"] + 1
        if "corruption_rng" in state:
            model.corruption.rng.bit_generator.state = state["corruption_rng"]
        say(f"resuming from {ckpt}: {state['epoch']} epoch(s) done, training to {args.epochs}")
    if dist.world_size() > 1 and getattr(model, "corruption", None) is not None:
        # each rank corrupts its own images with noise of its own
        model.corruption.rng = np.random.default_rng([args.seed, dist.rank(), start])
    n_params = sum(int(np.prod(p.shape)) for p in model.parameters())
    say(
        f"{example}: {name}, {len(train_x)} train / {len(test_x)} test images of shape "
        f"{shape}; {n_params:,} parameters; {threads_line()}"
    )

    def checkpoint(epoch, history):
        extra = {}
        if getattr(model, "corruption", None) is not None:
            extra["corruption_rng"] = model.corruption.rng.bit_generator.state
        save_checkpoint(
            ckpt, model, optimizer, epoch=epoch, history=history, flags=flags_of(args), **extra
        )

    history = train(
        model, optimizer, train_x, test_x, args, example, history, start, after_epoch=checkpoint
    )
    title = title or f"{example.replace('_', ' ')} ({name})"
    filters = model.filters() if filters is None else filters
    finish(out, model, test_x, history, title, filters, refs)
    history["model"], history["out"] = model, out
    return history
