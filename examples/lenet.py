"""LeNet: the convolutional classifier of LeCun et al. (1998) as the book's chapter 9 builds
it: convolution, ReLU, max pooling, convolution, ReLU, max pooling, then fully connected
layers to the ten classes. The channel counts are Caffe's LeNet (20, 50, 500); the first
convolution pads by 2, as LeNet-5 saw MNIST padded to 32x32. Adam, the learning rate
decaying on a cosine over the epochs.

    python examples/lenet.py                             # MNIST if present, else the digits
    python examples/lenet.py --dataset fashion-mnist
    python examples/lenet.py --epochs 10 --channels 6 16 --hidden 120

Prints the test accuracy after every epoch and writes to --out (default out/lenet):
confusion.png (test confusion matrix), misclassified.png (test images it got wrong, with
truth and guess), filters.png (the first layer's kernels, upscaled), accuracy.png,
model.npz (state_dict), checkpoint.npz (--resume continues from it) and history.json.
"""

from __future__ import annotations

import _cnn_common as C
import _common
import numpy as np

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
    p = _common.make_parser(__doc__, resumable=True, epochs=5, digits_epochs=30, lr=1e-3)
    p.add_argument("--channels", type=_common.positive_int, nargs=2, default=[20, 50])
    p.add_argument("--hidden", type=_common.positive_int, default=500)
    p.add_argument("--constant-lr", action="store_true", help="keep --lr (default: cosine decay)")
    args = p.parse_args(argv)
    out = _common.setup(args, "lenet")
    train_set, test_set, name = _common.load_data(args)
    _common.check_batch_fits(len(train_set), args)
    train_x, train_y = _common.all_images(train_set), _common.all_labels(train_set)
    test_x, test_y = _common.all_images(test_set), _common.all_labels(test_set)
    shape = train_x.shape[1:]
    model = build(shape, args.channels, args.hidden)
    n_params = sum(int(np.prod(q.shape)) for q in model.parameters())
    _common.say(
        f"lenet: {name}, {len(train_x)} train / {len(test_x)} test images of shape {shape}; "
        f"{n_params:,} parameters; {_common.threads_line()}"
    )
    history = C.fit(
        model, train_x, train_y, C.classification_loss, args, "lenet", out,
        C.test_accuracy(test_x, test_y), cosine=not args.constant_lr,
    )  # fmt: skip
    pred = C.predict(model, test_x).argmax(1)
    cm = C.confusion_matrix(test_y, pred, 10)
    n_wrong = int(cm.sum() - np.trace(cm))
    history.update(dataset=name, parameters=n_params, confusion=cm.tolist())
    _common.say(
        f"lenet: {name} test accuracy {C.accuracy(cm):.4f} ({n_wrong} errors of {len(test_y)}); "
        f"median epoch {np.median(history['epoch_seconds']):.1f} s"
    )
    classes = C.class_names(name)
    C.save_confusion(out / "confusion.png", cm, classes, f"LeNet on {name}: test confusion")
    wrong = np.flatnonzero(pred != test_y)[:32]
    C.save_labelled_images(
        out / "misclassified.png",
        test_x[wrong],
        [f"{classes[t]} -> {classes[q]}" for t, q in zip(test_y[wrong], pred[wrong])],
        f"LeNet on {name}: misclassified test images (truth -> guess), {len(wrong)} of {n_wrong}",
    )
    _common.save_filters(
        out / "filters.png", model[0].weight.numpy(), f"LeNet on {name}: first-layer kernels"
    )
    _common.save_curves(
        out / "accuracy.png",
        {"test accuracy": history["test_accuracy"]},
        f"LeNet on {name}",
        ylabel="test accuracy",
    )
    _common.save_model(model, out / "model.npz")
    C.save_json(out / "history.json", history)
    _common.say(f"wrote {', '.join(sorted(q.name for q in out.iterdir()))} to {out}/")
    history["model"], history["out"] = model, out
    return history


if __name__ == "__main__":
    main()
