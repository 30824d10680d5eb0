"""What the chapter-9 examples (lenet, segment, sequence, variable_size) share beyond
_common.py: classification metrics (confusion matrix, accuracy, pixel accuracy, mean IoU),
batched prediction, a training loop with _common's progress bars and resumable
checkpoints, and the pictures _common does not draw (confusion matrix, captioned images).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import _common
import numpy as np
from matplotlib.figure import Figure

import minigrad as mg
import minigrad.distributed as dist
import minigrad.functional as F
from minigrad import optim


def as_array(batch) -> np.ndarray:
    """A dataset item or batch as a NumPy array, whether it came as an array or a Tensor."""
    return batch.numpy() if isinstance(batch, mg.Tensor) else np.asarray(batch)


def predict(model, x: np.ndarray, batch_size: int = 250) -> np.ndarray:
    """``model``'s outputs on ``x`` in eval mode, batch by batch, without the tape."""
    was_training = model.training
    model.eval()
    outs = []
    with mg.no_grad():
        for i in range(0, len(x), batch_size):
            outs.append(model(mg.tensor(x[i : i + batch_size])).numpy())
    model.train(was_training)
    return np.concatenate(outs)


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts (num_classes, num_classes): entry [t, p] is how many items (images, or pixels)
    of true class t were predicted as p."""
    truth = np.asarray(truth).ravel()
    pred = np.asarray(pred).ravel()
    if truth.shape != pred.shape:
        raise ValueError(f"truth and pred differ in size: {truth.size} vs {pred.size}")
    for name, a in (("truth", truth), ("pred", pred)):
        if a.size and (a.min() < 0 or a.max() >= num_classes):
            raise ValueError(f"{name}: expected classes in 0..{num_classes - 1}")
    counts = np.bincount(truth * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def accuracy(cm: np.ndarray) -> float:
    """Fraction on the diagonal (for pixels: the pixel accuracy)."""
    return float(np.trace(cm) / max(cm.sum(), 1))


def iou_per_class(cm: np.ndarray) -> np.ndarray:
    """Intersection over union of each class, |truth_c and pred_c| / |truth_c or pred_c|;
    NaN for a class that is neither in the truth nor predicted."""
    inter = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - np.diag(cm)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, np.nan)


def mean_iou(cm: np.ndarray) -> float:
    """Mean of the per-class IoU over the classes present in the truth or the prediction."""
    iou = iou_per_class(cm)
    return float(np.nanmean(iou)) if np.any(~np.isnan(iou)) else float("nan")


# ----------------------------------------------------------------------------- training


def cosine_lr(args):
    """The learning rate of each epoch: a cosine from --lr at epoch 1 down towards 0 at
    epoch --epochs + 1 (SGDR's schedule without restarts, stepped once an epoch)."""
    return lambda epoch: 0.5 * args.lr * (1 + math.cos(math.pi * (epoch - 1) / args.epochs))


def fit(
    model, train_x, train_y, loss_fn, args, name: str, out: Path, evaluate, cosine=True,
    checkpoint="checkpoint.npz", augment=None, fresh_if_missing=False,
):  # fmt: skip
    """Adam on ``loss_fn(model, x_batch, y_batch)`` over (train_x, train_y), batches in
    _common.epoch_order (a function of seed and epoch, so --resume sees the batches an
    unbroken run would), a progress bar per epoch, ``evaluate(model) -> (dict, line)`` after
    each epoch (the dict goes into the history, the line is printed) and a checkpoint
    (out/``checkpoint``: model, optimizer, epoch, history, flags) that --resume continues
    from. ``augment(x_batch, rng)`` (arrays), if given, changes each training batch; its
    generator is seeded by (seed, epoch) like the order. ``fresh_if_missing``: --resume
    starts this model afresh when its checkpoint was never written (a later model of a
    run that stopped before reaching it). Returns the history: per-epoch
    lists of train_loss, epoch_seconds (training only, evaluation not counted), lr and the
    evaluate() entries."""
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    lr_at = cosine_lr(args) if cosine else (lambda epoch: args.lr)
    ckpt = out / checkpoint
    history, start = {"train_loss": [], "epoch_seconds": [], "lr": []}, 1
    if getattr(args, "resume", False) and not (fresh_if_missing and not ckpt.exists()):
        state = _common.load_checkpoint(ckpt, model, optimizer)
        _common.check_same_flags(state["flags"], args, ckpt)
        history, start = state["history"], int(state["epoch"]) + 1
        _common.say(f"resuming from {ckpt}: {start - 1} epoch(s) done, training to {args.epochs}")
    caller = dist.data_parallel(model)  # the model itself unless under mpirun -n N > 1
    for epoch in range(start, args.epochs + 1):
        model.train()
        for group in optimizer.param_groups:
            group["lr"] = lr_at(epoch)
        order = _common.epoch_order(len(train_x), args.seed, epoch)
        batches = _common.batches_of_this_rank(order, args.batch_size)
        n_batches = len(batches)
        bar = _common.progress(n_batches * args.batch_size, f"{name} epoch {epoch}/{args.epochs}")
        # the augmentations' generator: one per rank under mpirun (its own images, its own draws)
        rank_key = [dist.rank()] if dist.world_size() > 1 else []
        rng = np.random.default_rng([args.seed, epoch, 1, *rank_key])
        t0, total = time.perf_counter(), 0.0
        for step, idx in enumerate(batches):
            xb = train_x[idx] if augment is None else augment(train_x[idx], rng)
            loss = loss_fn(caller, mg.tensor(xb), train_y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.item())
            bar.update(len(idx))
            bar.set_postfix(loss=f"{total / (step + 1):.4f}", refresh=False)
        bar.close()
        seconds = time.perf_counter() - t0
        rate = dist.throughput(n_batches * args.batch_size, seconds)  # all ranks together
        history["epoch_seconds"].append(seconds)
        history.setdefault("examples_per_second", []).append(rate)
        history["train_loss"].append(dist.all_reduce(total / max(n_batches, 1), "mean"))
        history["lr"].append(optimizer.param_groups[0]["lr"])
        numbers, line = evaluate(model)
        for key, value in numbers.items():
            history.setdefault(key, []).append(value)
        _common.say(f"  epoch {epoch}: {line}, {seconds:.1f} s, {rate:,.0f} ex/s")
        _common.save_checkpoint(
            ckpt, model, optimizer, epoch=epoch, history=history, flags=_common.flags_of(args)
        )
    return history


def classification_loss(model, x, y):
    return F.cross_entropy(model(x), y)


def test_accuracy(test_x, test_y):
    """An ``evaluate`` for fit(): the accuracy on the whole test set."""

    def evaluate(model):
        acc = accuracy(confusion_matrix(test_y, predict(model, test_x).argmax(1), 10))
        return {"test_accuracy": acc}, f"test accuracy {acc:.4f}"

    return evaluate


# ----------------------------------------------------------------------------- pictures

FASHION = "T-shirt trouser pullover dress coat sandal shirt sneaker bag boot".split()


def class_names(dataset: str) -> list[str]:
    return FASHION if dataset == "fashion-mnist" else [str(d) for d in range(10)]


def save_json(path: Path, obj) -> None:
    """JSON (arrays as lists), written atomically (by rank 0 alone under mpirun)."""
    if not dist.is_main_process():
        return
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    os.replace(tmp, path)


def save_confusion(path: Path, cm: np.ndarray, names: list[str], title: str) -> None:
    """The confusion matrix as a heat map (log colour scale) with the counts written in."""
    n = len(names)
    fig = Figure(figsize=(0.55 * n + 2, 0.55 * n + 1.5), dpi=100)
    ax = fig.add_subplot()
    ax.imshow(np.log1p(cm), cmap="Blues")
    for t in range(n):
        for q in range(n):
            if cm[t, q]:
                dark = np.log1p(cm[t, q]) > 0.6 * np.log1p(cm.max())
                ax.text(q, t, str(cm[t, q]), ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")  # fmt: skip
    ax.set_xticks(range(n), names, rotation=45 if max(map(len, names)) > 2 else 0)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    _common._write(fig, path)


def save_labelled_images(path: Path, images: np.ndarray, captions: list[str], title: str) -> None:
    """Images (N, 1, H, W) in [0, 1] in a grid, each with its caption above it."""
    n = max(len(images), 1)
    ncol = min(8, n)
    nrow = -(-n // ncol)
    fig = Figure(figsize=(max(1.3 * ncol, 6.5), 1.5 * nrow + 0.5), dpi=100)
    axes = fig.subplots(nrow, ncol, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k < len(images):
            ax.imshow(images[k, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(captions[k], fontsize=8)
    fig.suptitle(title, fontsize=10)
    _common._write(fig, path)
