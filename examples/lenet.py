"""LeNet: the convolutional classifier of LeCun et al. (1998) as the book's chapter 9 builds
it: convolution, ReLU, max pooling, convolution, ReLU, max pooling, then fully connected
layers to the ten classes. The channel counts are Caffe's LeNet (20, 50, 500); the first
convolution pads by 2, as LeNet-5 saw MNIST padded to 32x32.

    python examples/lenet.py                             # MNIST if present, else the digits
    python examples/lenet.py --dataset fashion-mnist
    python examples/lenet.py --epochs 10 --channels 6 16 --hidden 120

Prints the test accuracy after every epoch and writes to --out (default out/lenet):
confusion.png (test confusion matrix), misclassified.png (test images it got wrong, with
truth and guess), filters.png (the first layer's kernels, upscaled), accuracy.png,
model.npz (state_dict) and history.json.
"""

from __future__ import annotations

import _cnn_common as C
import _common
import numpy as np

import minigrad as mg
from minigrad import nn


def build(shape: tuple, channels=(20, 50), hidden: int = 500) -> nn.Sequential:
    """LeNet for images of ``shape`` (C, H, W): 5x5 kernels on 28x28 images (the first one
    padded by 2), 3x3 padded by 1 on small ones like the 8x8 digits."""
    c, h, w = shape
    if min(h, w) >= 20:
        k1, p1, k2, p2 = 5, 2, 5, 0
    else:
        k1, p1, k2, p2 = 3, 1, 3, 1
    h1, w1 = (h + 2 * p1 - k1 + 1) // 2, (w + 2 * p1 - k1 + 1) // 2
    h2, w2 = (h1 + 2 * p2 - k2 + 1) // 2, (w1 + 2 * p2 - k2 + 1) // 2
    if h2 < 1 or w2 < 1:
        raise ValueError(f"lenet: images of shape {shape} are too small for two conv+pool stages")
    return nn.Sequential(
        nn.Conv2d(c, channels[0], k1, padding=p1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(channels[0], channels[1], k2, padding=p2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(channels[1] * h2 * w2, hidden),
        nn.ReLU(),
        nn.Linear(hidden, 10),
    )


def main(argv=None) -> dict:
    p = _common.make_parser(__doc__, epochs=5, batch_size=64, lr=1e-3)
    p.set_defaults(epochs_by_dataset=(5, 30))  # the digits: 23 steps an epoch
    p.add_argument("--channels", type=_common._positive_int, nargs=2, default=[20, 50])
    p.add_argument("--hidden", type=_common._positive_int, default=500)
    p.add_argument(
        "--constant-lr", action="store_true", help="keep --lr (default: cosine decay to 0)"
    )
    args = p.parse_args(argv)
    out = _common.setup(args, "lenet")
    train_set, test_set, name = _common.load_data(args)
    if len(train_set) < args.batch_size:
        raise SystemExit(
            f"error: --batch-size {args.batch_size} is larger than the {len(train_set)} "
            "training images (every batch is full, so no step would run)"
        )
    test_x, test_y = (C.as_array(a) for a in test_set[np.arange(len(test_set))])
    shape = _common.image_shape(train_set)
    model = build(shape, args.channels, args.hidden)
    n_params = sum(int(np.prod(q.shape)) for q in model.parameters())
    print(
        f"lenet: {name}, {len(train_set)} train / {len(test_x)} test images of shape {shape}; "
        f"{n_params:,} parameters; {mg.get_num_threads()} thread(s)",
        flush=True,
    )
    cosine = not args.constant_lr
    history = C.train_classifier(model, train_set, test_x, test_y, args, "lenet", cosine)
    pred = C.predict(model, test_x).argmax(1)
    cm = C.confusion_matrix(test_y, pred, 10)
    history.update(dataset=name, parameters=n_params, confusion=cm.tolist())
    print(
        f"lenet: {name} test accuracy {C.accuracy(cm):.4f} ({int(cm.sum() - np.trace(cm))} "
        f"errors of {len(test_y)}); median epoch {np.median(history['epoch_seconds']):.1f} s",
        flush=True,
    )
    classes = C.class_names(name)
    C.save_confusion(out / "confusion.png", cm, classes, f"LeNet on {name}: test confusion")
    n_wrong = int(np.sum(pred != test_y))
    wrong = np.flatnonzero(pred != test_y)[:32]
    C.save_labelled_images(
        out / "misclassified.png",
        test_x[wrong],
        [f"{classes[t]} -> {classes[q]}" for t, q in zip(test_y[wrong], pred[wrong])],
        f"misclassified test images (truth -> guess): {len(wrong)} of {n_wrong}",
    )
    C.save_filters(out / "filters.png", model[0].weight.numpy()[:, 0], "first-layer kernels")
    C.save_curve(
        out / "accuracy.png",
        {"test accuracy": (np.arange(1, args.epochs + 1), history["test_accuracy"])},
        "epoch",
        "test accuracy",
    )
    mg.save(model.state_dict(), str(out / "model.npz"))
    C.save_json(out / "history.json", history)
    print(f"wrote {', '.join(sorted(q.name for q in out.iterdir()))} to {out}/", flush=True)
    history["model"], history["out"] = model, out
    return history


if __name__ == "__main__":
    main()
