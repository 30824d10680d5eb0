"""What the chapter-9 examples (lenet, segment, sequence, variable_size) share beyond
_common.py: classification metrics (confusion matrix, accuracy, pixel accuracy, mean IoU),
batched prediction, and turning what a DataLoader yields (arrays or Tensors) into arrays.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import _common
import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import data as D
from minigrad import optim


def as_array(batch) -> np.ndarray:
    """A DataLoader batch element as a NumPy array, whether it came as an array or a Tensor."""
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


def train_classifier(model, train_set, test_x, test_y, args, name: str, cosine: bool = True):
    """Adam on the cross-entropy, one line per epoch with the test accuracy and the
    epoch's training seconds (evaluation not counted). With ``cosine`` the learning rate
    follows a cosine from --lr down towards 0 over the epochs (stepped once an epoch).
    Returns the history (per-epoch lists)."""
    loader = D.DataLoader(train_set, args.batch_size, shuffle=True, drop_last=True, seed=args.seed)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs) if cosine else None
    history = {"train_loss": [], "test_accuracy": [], "epoch_seconds": [], "lr": []}
    for epoch in range(1, args.epochs + 1):
        model.train()
        bar = _common.Progress(len(loader), f"{name} epoch {epoch}/{args.epochs}")
        t0 = time.perf_counter()
        total, seen = 0.0, 0
        for step, (x, y) in enumerate(loader, 1):
            loss = F.cross_entropy(model(mg.tensor(as_array(x))), as_array(y))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.item()) * len(x)
            seen += len(x)
            bar.update(step, seen, total / seen)
        seconds = time.perf_counter() - t0
        history["lr"].append(opt.param_groups[0]["lr"])
        if sched is not None:
            sched.step()
        acc = accuracy(confusion_matrix(test_y, predict(model, test_x).argmax(1), 10))
        history["epoch_seconds"].append(seconds)
        history["train_loss"].append(total / max(seen, 1))
        history["test_accuracy"].append(acc)
        bar.update(len(loader), seen, total / max(seen, 1), final=True)
        print(f"  epoch {epoch}: test accuracy {acc:.4f}  epoch time {seconds:.1f} s", flush=True)
    return history


# ----------------------------------------------------------------------------- pictures

FASHION = "T-shirt trouser pullover dress coat sandal shirt sneaker bag boot".split()


def class_names(dataset: str) -> list[str]:
    return FASHION if dataset == "fashion-mnist" else [str(d) for d in range(10)]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    """Write the figure atomically (a temporary file in the same folder, then rename)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp.png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
        _pyplot().close(fig)


def save_json(path: Path, obj) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    os.replace(tmp, path)


def save_confusion(path: Path, cm: np.ndarray, names: list[str], title: str) -> None:
    """The confusion matrix as a heat map (log colour scale) with the counts written in."""
    plt = _pyplot()
    n = len(names)
    fig, ax = plt.subplots(figsize=(0.55 * n + 2, 0.55 * n + 1.5))
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
    save_figure(fig, path)


def save_labelled_images(path: Path, images: np.ndarray, captions: list[str], title: str) -> None:
    """Images (N, 1, H, W) in a grid, each with its caption."""
    plt = _pyplot()
    n = max(len(images), 1)
    ncol = min(8, n)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(1.3 * ncol, 1.5 * nrow + 0.4), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < len(images):
            ax.imshow(images[k, 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(captions[k], fontsize=8)
    fig.suptitle(title, fontsize=9)
    save_figure(fig, path)


def save_filters(path: Path, kernels: np.ndarray, title: str) -> None:
    """Kernels (N, kH, kW), each drawn large on its own symmetric colour scale (red
    positive, blue negative), so a 5x5 kernel is seen pixel by pixel."""
    plt = _pyplot()
    n = len(kernels)
    ncol = min(10, n)
    nrow = -(-n // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(1.0 * ncol, 1.0 * nrow + 0.4), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            m = float(np.abs(kernels[k]).max()) or 1.0
            ax.imshow(kernels[k], cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest")
    fig.suptitle(title, fontsize=9)
    save_figure(fig, path)


def save_curve(path: Path, curves: dict, xlabel: str, ylabel: str, log_x: bool = False) -> None:
    """Line plot of ``curves`` {name: (x, y)}."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for label, (x, y) in curves.items():
        ax.plot(x, y, marker="o", ms=3, label=label)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
