"""Inputs of varying size (book sec. 9.7): one trained network, images of several sizes.

A network of convolutions and pooling maps an image of any size to feature maps whose size
follows the input's; a fully connected head (LeNet's) then fails, because its weight
matrix has a fixed number of inputs. Here the head is adaptive pooling instead: each
feature map is pooled to one number whatever its size (``AdaptiveMaxPool2d(1)`` or
``AdaptiveAvgPool2d(1)``), then a linear layer gives the ten classes.

Both heads are trained on the 28x28 training images only, then score the test digits on
their own 28x28 canvas and placed at random positions on larger empty canvases (36x36 and
48x48 by default). Max pooling reports "is the feature anywhere?", which more empty canvas
does not change; average pooling dilutes the digit's features with the background's, so
its accuracy falls as the canvas grows.

    python examples/variable_size.py                     # MNIST if present, else the digits
    python examples/variable_size.py --sizes 28 36 48 64 --heads max

Prints the accuracy per head and input size and writes to --out (default
out/variable_size): accuracy.png (accuracy against canvas size, one curve per head),
examples.png (test digits on each canvas with the max head's guesses), model_<head>.npz,
checkpoint_<head>.npz (--resume), history.json.
"""

from __future__ import annotations

import _cnn_common as C
import _common
import numpy as np

import minigrad as mg
from minigrad import nn

HEADS = ("max", "avg")


def build(in_channels: int, head: str, channels=(16, 32, 64)) -> nn.Sequential:
    """Three 3x3 conv + ReLU layers (2x2 max pooling after the first two), the adaptive
    pooling head, a linear layer to the ten classes. Any input of at least 4x4 goes."""
    pool = {"max": nn.AdaptiveMaxPool2d, "avg": nn.AdaptiveAvgPool2d}[head]
    c1, c2, c3 = channels
    return nn.Sequential(
        nn.Conv2d(in_channels, c1, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c2, c3, 3, padding=1),
        nn.ReLU(),
        pool(1),
        nn.Flatten(),
        nn.Linear(c3, 10),
    )


def place(images: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Each image (N, C, h, w) pasted at a random position on an empty size x size canvas."""
    n, c, h, w = images.shape
    if size < max(h, w):
        raise ValueError(f"place: canvas {size} is smaller than the {h}x{w} images")
    rng = np.random.default_rng(seed)
    top = rng.integers(0, size - h + 1, size=n)
    left = rng.integers(0, size - w + 1, size=n)
    out = np.zeros((n, c, size, size), images.dtype)
    for i in range(n):
        out[i, :, top[i] : top[i] + h, left[i] : left[i] + w] = images[i]
    return out


def random_shift(max_shift: int):
    """An ``augment`` for fit(): each image moved by up to ``max_shift`` pixels in each
    direction (what leaves the frame is lost, zeros come in). Max pooling with stride 2 is
    not invariant to a one-pixel shift, and MNIST digits are all centred the same way, so
    without this the network meets new pooling phases only at test time."""

    def shift(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n, _, h, w = x.shape
        pad = max_shift
        big = np.zeros((n, x.shape[1], h + 2 * pad, w + 2 * pad), x.dtype)
        big[:, :, pad : pad + h, pad : pad + w] = x
        dy, dx = rng.integers(0, 2 * pad + 1, size=(2, n))
        rows = dy[:, None] + np.arange(h)  # (n, h): the rows each image takes
        cols = dx[:, None] + np.arange(w)
        return big[np.arange(n)[:, None, None], :, rows[:, :, None], cols[:, None, :]].transpose(
            0, 3, 1, 2
        )

    return shift


def main(argv=None) -> dict:
    p = _common.make_parser(__doc__, resumable=True, epochs=2, digits_epochs=30, lr=2e-3)
    p.add_argument("--heads", nargs="+", choices=HEADS, default=list(HEADS))
    p.add_argument("--sizes", type=_common.positive_int, nargs="+", default=None,
                   help="canvas sides to score (default: 28 36 48 on MNIST, 8 12 16 on the "
                   "digits)")  # fmt: skip
    p.add_argument("--shift", type=int, default=None,
                   help="train on images shifted by up to this many pixels (default: a "
                   "seventh of the side, 4 on MNIST, 1 on the digits; 0: none)")  # fmt: skip
    args = p.parse_args(argv)
    if args.shift is not None and args.shift < 0:
        raise SystemExit(f"error: --shift must be >= 0, got {args.shift}")
    out = _common.setup(args, "variable_size")
    train_set, test_set, name = _common.load_data(args)
    _common.check_batch_fits(len(train_set), args)
    train_x, train_y = _common.all_images(train_set), _common.all_labels(train_set)
    test_x, test_y = _common.all_images(test_set), _common.all_labels(test_set)
    side = train_x.shape[-1]
    sizes = args.sizes or ([side, 12, 16] if side == 8 else [side, 36, 48])
    if min(sizes) < side:
        raise SystemExit(f"error: --sizes must be at least the image side {side}, got {sizes}")
    shift = side // 7 if args.shift is None else args.shift
    canvases = {s: test_x if s == side else place(test_x, s, args.seed + s) for s in sizes}
    _common.say(
        f"variable_size: {name}, trained on {len(train_x)} {side}x{side} images, scored on "
        f"{len(test_x)} test images on canvases of {', '.join(map(str, sizes))}; training "
        f"images shifted by up to {shift} pixels; "
        f"{_common.threads_line()}"
    )

    # LeNet's fully connected head takes one size only: say what minigrad says about it
    fixed = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * side**2, 10))
    try:
        with mg.no_grad():
            fixed(mg.tensor(canvases[sizes[-1]][:1]))
        _common.say("note: a flatten + linear head took a larger canvas?!")
    except ValueError as e:
        _common.say(f"a flatten + linear head on a {sizes[-1]}x{sizes[-1]} canvas: {e}")

    results = {"sizes": sizes}
    models = {}
    for head in args.heads:
        mg.manual_seed(args.seed)
        model = build(train_x.shape[1], head)
        history = C.fit(
            model, train_x, train_y, C.classification_loss, args, f"{head} head", out,
            C.test_accuracy(test_x, test_y), checkpoint=f"checkpoint_{head}.npz",
            augment=random_shift(shift) if shift else None,
        )  # fmt: skip
        history["accuracy_by_size"] = {}
        for s in sizes:
            pred = C.predict(model, canvases[s]).argmax(1)
            history["accuracy_by_size"][s] = float(np.mean(pred == test_y))
        results[head] = history
        models[head] = model
        _common.save_model(model, out / f"model_{head}.npz")

    print(f"\ntest accuracy by canvas size ({name}, trained on {side}x{side} only)")
    print(f"{'head':<6}" + "".join(f"{f'{s}x{s}':>9}" for s in sizes) + f"{'s/epoch':>9}")
    for head in args.heads:
        h = results[head]
        row = "".join(f"{h['accuracy_by_size'][s]:>9.4f}" for s in sizes)
        print(f"{head:<6}{row}{np.median(h['epoch_seconds']):>9.1f}")
    _common.save_curves(
        out / "accuracy.png",
        {f"{h} head": (sizes, list(results[h]["accuracy_by_size"].values())) for h in args.heads},
        f"one network, several input sizes ({name}, trained on {side}x{side})",
        xlabel="canvas side (pixels)",
        ylabel="test accuracy",
    )
    shown = models[args.heads[0]]
    for s in sizes:
        guess = C.predict(shown, canvases[s][:8]).argmax(1)
        results.setdefault("shown", {})[s] = guess.tolist()
    grid, captions = [], []
    for s in sizes:  # one row per size, drawn on grey up to the largest canvas
        big = max(sizes)
        padded = np.full((8, 1, big, big), 0.35, np.float32)
        padded[:, :, :s, :s] = canvases[s][:8]
        grid.append(padded)
        captions += [f"{s}px: {g}" for g in results["shown"][s]]
    C.save_labelled_images(
        out / "examples.png",
        np.concatenate(grid),
        captions,
        f"test digits on each canvas (black; grey is outside it), {args.heads[0]} head's "
        f"guesses (truth: "
        f"{' '.join(map(str, test_y[:8]))})",
    )
    C.save_json(out / "history.json", results)
    _common.say(f"wrote {', '.join(sorted(q.name for q in out.iterdir()))} to {out}/")
    results["models"] = models
    return results


if __name__ == "__main__":
    main()
