"""A small CNN classifier three ways: the first layer shares its kernel over the whole
image (conv2d), cycles t = 2 x 2 kernels over it (tiled convolution, eq. 9.10), or
gives every output location its own kernel (locally connected, eq. 9.9). The rest of
the network is the same: ReLU, 2x2 max pooling, a 3x3 convolution, ReLU, pooling and
a linear layer to the ten classes.

    python examples/cnn_classifier.py                  # MNIST if present, else the digits
    python examples/cnn_classifier.py --epochs 3 --dataset fashion-mnist
    python examples/cnn_classifier.py --layers conv tiled

Prints, per first layer, its parameter count, test accuracy and seconds per epoch, and
writes to --out: accuracy.png (test accuracy against epochs, one curve per model),
filters_<layer>.png (the first layer's kernels; for the tiled layer each channel's
t_h x t_w kernels side by side), model_<layer>.npz and history.json.
"""

from __future__ import annotations

import json
import time

import _common
import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import data as D
from minigrad import nn, optim

LAYERS = ("conv", "tiled", "local")


def build(layer: str, shape: tuple, channels: int = 16) -> nn.Module:
    """The classifier for images of ``shape`` (C, H, W) with the given first layer."""
    c, h, w = shape
    k = 5 if min(h, w) >= 20 else 3  # 5x5 on 28x28 images, 3x3 on the 8x8 digits
    if layer == "conv":
        first = nn.Conv2d(c, channels, k, padding=k // 2)
    elif layer == "tiled":
        first = nn.TiledConv2d(c, channels, k, tiles=2, padding=k // 2)
    elif layer == "local":
        first = nn.LocallyConnected2d(c, channels, k, input_size=(h, w), padding=k // 2)
    else:
        raise ValueError(f"layer must be one of {LAYERS}, got {layer!r}")
    return nn.Sequential(
        first,
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(channels, 2 * channels, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(2 * channels * (h // 4) * (w // 4), 10),
    )


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 500) -> float:
    model.eval()
    right = 0
    with mg.no_grad():
        for i in range(0, len(x), batch_size):
            logits = model(mg.tensor(x[i : i + batch_size])).numpy()
            right += int((logits.argmax(axis=1) == y[i : i + batch_size]).sum())
    model.train()
    return right / len(x)


def train(model: nn.Module, train_set, test_x, test_y, args, name: str) -> dict:
    """Adam on the cross-entropy; test accuracy on the first 2,000 test images about ten
    times an epoch (the curve in accuracy.png) and on the whole test set after each."""
    # shuffled by the global generator, seeded with --seed before each model is built
    loader = D.DataLoader(train_set, args.batch_size, shuffle=True, drop_last=True)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    every = max(1, len(loader) // 10)
    history = {"train_loss": [], "test_accuracy": [], "epoch_seconds": [], "curve": []}
    for epoch in range(1, args.epochs + 1):
        bar = _common.progress(
            len(loader) * args.batch_size, f"{name:>5} epoch {epoch}/{args.epochs}"
        )
        seconds, total, seen = 0.0, 0.0, 0
        t0 = time.perf_counter()
        for step, (x, y) in enumerate(loader, 1):
            loss = F.cross_entropy(model(mg.tensor(np.asarray(x))), mg.tensor(np.asarray(y)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.item()) * len(x)
            seen += len(x)
            bar.update(len(x))
            bar.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
            if step % every == 0:  # not counted in the epoch's time
                seconds += time.perf_counter() - t0
                acc = accuracy(model, test_x[:2000], test_y[:2000])
                history["curve"].append((epoch - 1 + step / len(loader), acc))
                t0 = time.perf_counter()
        bar.close()
        history["epoch_seconds"].append(seconds + time.perf_counter() - t0)
        history["train_loss"].append(total / max(seen, 1))
        history["test_accuracy"].append(accuracy(model, test_x, test_y))
        if epoch in (1, args.epochs) or epoch % max(1, args.epochs // 10) == 0:
            print(
                f"  test accuracy {history['test_accuracy'][-1]:.4f}  "
                f"epoch time {history['epoch_seconds'][-1]:.1f} s",
                flush=True,
            )
    return history


def first_layer_filters(layer: str, weight: np.ndarray) -> np.ndarray:
    """Kernels to draw, (n, kH, kW): conv as is; tiled: each channel's tiles in a row;
    locally connected: the kernels of the centre location (one per channel)."""
    if layer == "conv":
        return weight[:, 0]
    if layer == "tiled":  # (C_out, t_h, t_w, C_in, kH, kW)
        return weight[:, :, :, 0].reshape(-1, *weight.shape[-2:])
    ch, cw = weight.shape[1] // 2, weight.shape[2] // 2
    return weight[:, ch, cw, 0]


def main(argv=None) -> dict:
    p = _common.make_parser(__doc__, epochs=1, batch_size=64, lr=2e-3)
    p.set_defaults(epochs_by_dataset=(1, 30))  # the digits: 23 steps an epoch
    p.add_argument("--layers", nargs="+", choices=LAYERS, default=list(LAYERS))
    p.add_argument("--channels", type=_common.positive_int, default=16)
    args = p.parse_args(argv)
    out = _common.setup(args, "cnn_classifier", data_parallel=False)
    train_set, test_set, name = _common.load_data(args)
    if len(train_set) < args.batch_size:
        raise SystemExit(
            f"error: --batch-size {args.batch_size} is larger than the {len(train_set)} "
            "training images (every batch is full, so no step would run)"
        )
    test_x, test_y = _common.all_images(test_set), _common.all_labels(test_set)
    shape = _common.image_shape(train_set)
    print(
        f"cnn_classifier: {name}, {len(train_set)} train / {len(test_x)} test images of shape "
        f"{shape}; {mg.get_num_threads()} thread(s)",
        flush=True,
    )
    results = {}
    for layer in args.layers:
        mg.manual_seed(args.seed)  # each model starts from the same seed
        model = build(layer, shape, args.channels)
        history = train(model, train_set, test_x, test_y, args, layer)
        history["parameters"] = sum(int(np.prod(q.shape)) for q in model.parameters())
        history["first_layer_parameters"] = sum(
            int(np.prod(q.shape)) for q in model[0].parameters()
        )
        results[layer] = history
        mg.save(model.state_dict(), str(out / f"model_{layer}.npz"))
        _common.save_filters(
            out / f"filters_{layer}.png",
            first_layer_filters(layer, model[0].weight.numpy()),
            f"{name}: first-layer kernels, {layer} layer"
            + (" (each channel's 2x2 tiles side by side)" if layer == "tiled" else ""),
            ncol=8,  # tiled: a channel's 4 tiles side by side, two channels a row
        )
        results[layer]["model"] = model

    print(f"\n{'first layer':<12} {'parameters':>10} {'(first)':>9} {'test acc':>9} {'s/epoch':>8}")
    for layer, h in results.items():
        print(
            f"{layer:<12} {h['parameters']:>10,} {h['first_layer_parameters']:>9,} "
            f"{h['test_accuracy'][-1]:>9.4f} {np.median(h['epoch_seconds']):>8.2f}"
        )
    curves = {layer: tuple(np.array(h["curve"]).T) for layer, h in results.items()}
    _common.save_curves(
        out / "accuracy.png",
        curves,
        f"{name}: test accuracy during training (first 2,000 test images)",
        xlabel="epoch",
        ylabel="test accuracy (fraction correct)",
    )
    with open(out / "history.json", "w") as f:
        json.dump({k: {m: v for m, v in h.items() if m != "model"} for k, h in results.items()}, f)
    print(f"wrote {', '.join(sorted(q.name for q in out.iterdir()))} to {out}/", flush=True)
    return results


if __name__ == "__main__":
    main()
