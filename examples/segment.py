"""Structured outputs (book sec. 9.6): a network that labels every pixel.

The output is the book's tensor S, S[i, j, k] = probability that pixel (j, k) belongs to
class i: here eleven classes, the ten digits and the background, over scenes made by pasting
several digits at random places on a larger canvas (examples/_scenes.py; overlaps allowed,
--noise adds Gaussian noise). The network is SegNet-shaped: an encoder of 3x3 convolutions
and 2x2 max pooling that remembers where each maximum came from (return_indices), and a
decoder that puts values back at those places (max_unpool2d with the encoder's indices)
and convolves, ending in a 1x1 convolution to the class scores. The loss is the per-pixel
cross-entropy.

--refine T adds the book's refinement (after Pinheiro & Collobert's recurrent
convolutional network): a second network whose input is the image together with its own
current label map (softmax of the scores; uniform at first), run T times with the same
weights, every step's output trained towards the labels. It is reported beside the
one-pass network, per step.

    python examples/segment.py                           # MNIST digits if present, else the 8x8
    python examples/segment.py --refine 3 --noise 0.2

Prints pixel accuracy and mean IoU on scenes built from held-out digits and writes to --out
(default out/segment): segmentation.png (input / truth / prediction side by side), iou.png
(IoU per class), model.npz (model_refine.npz), checkpoint.npz (checkpoint_refine.npz;
--resume continues from them), history.json.
"""

from __future__ import annotations

import _cnn_common as C
import _common
import _scenes as S
import numpy as np
from matplotlib.figure import Figure

import minigrad as mg
import minigrad.functional as F
from minigrad import nn


class SegNet(nn.Module):
    """Encoder: per level, conv 3x3 + ReLU, then 2x2 max pooling keeping the indices.
    Decoder: per level (deepest first), unpool with that level's indices, conv 3x3 + ReLU.
    A 1x1 convolution gives the class scores (N, num_classes, H, W); H and W must be
    divisible by 2 ** levels.

    With ``refine`` steps > 0 the first convolution also sees a label map (num_classes
    channels), and ``forward_steps`` runs the network ``refine`` times, feeding each step's
    softmax back in; the weights are the same at every step."""

    def __init__(self, in_channels=1, num_classes=S.NUM_CLASSES, channels=(16, 32, 32), refine=0):
        super().__init__()
        self.num_classes, self.refine = num_classes, refine
        first = in_channels + (num_classes if refine else 0)
        widths = [first, *channels]
        self.down = nn.ModuleList(
            nn.Conv2d(a, b, 3, padding=1) for a, b in zip(widths[:-1], widths[1:])
        )
        self.middle = nn.Conv2d(channels[-1], channels[-1], 3, padding=1)
        # decoder level l goes from channels[l] back to channels[l - 1] (channels[0] at the top)
        outs = [channels[0], *channels[:-1]]
        self.up = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(channels, outs))
        self.head = nn.Conv2d(channels[0], num_classes, 1)

    def scores(self, x):
        indices, sizes = [], []
        for conv in self.down:
            x = F.relu(conv(x))
            sizes.append(x.shape[-2:])
            x, idx = F.max_pool2d(x, 2, return_indices=True)
            indices.append(idx)
        x = F.relu(self.middle(x))
        for conv, idx, size in zip(reversed(self.up), reversed(indices), reversed(sizes)):
            x = F.max_unpool2d(x, idx, 2, output_size=size)
            x = F.relu(conv(x))
        return self.head(x)

    def forward_steps(self, x) -> list:
        """The class scores after each step (one step without refinement)."""
        if not self.refine:
            return [self.scores(x)]
        n, _, h, w = x.shape
        label_map = mg.full((n, self.num_classes, h, w), 1.0 / self.num_classes, dtype=x.dtype)
        steps = []
        for _ in range(self.refine):
            steps.append(self.scores(F.cat([x, label_map], dim=1)))
            label_map = F.softmax(steps[-1], dim=1)
        return steps

    def forward(self, x):
        return self.forward_steps(x)[-1]


def per_pixel_loss(steps: list, labels) -> mg.Tensor:
    """Cross-entropy of every pixel's scores against its class, averaged over pixels (and
    over the refinement steps)."""
    total = F.cross_entropy(steps[0], labels)
    for s in steps[1:]:
        total = total + F.cross_entropy(s, labels)
    return total / len(steps)


def evaluate(model: SegNet, scenes: S.Scenes, batch_size: int = 100) -> list:
    """One confusion matrix (over pixels) per step, on ``scenes``."""
    k = model.num_classes
    cms = [np.zeros((k, k), np.int64) for _ in range(max(1, model.refine))]
    was_training = model.training
    model.eval()
    with mg.no_grad():
        for i in range(0, len(scenes), batch_size):
            x, y = scenes[i : i + batch_size]
            for cm, s in zip(cms, model.forward_steps(mg.tensor(x))):
                cm += C.confusion_matrix(y, s.numpy().argmax(1), k)
    model.train(was_training)
    return cms


def held_out(scenes: S.Scenes):
    """An ``evaluate`` for fit(): pixel accuracy and mean IoU of the final step."""

    def run(model):
        cm = evaluate(model, scenes)[-1]
        acc, miou = C.accuracy(cm), C.mean_iou(cm)
        return {"pixel_accuracy": acc, "mean_iou": miou}, (
            f"pixel accuracy {acc:.4f}, mean IoU {miou:.4f}"
        )

    return run


def segmentation_loss(model: SegNet, x, y):
    return per_pixel_loss(model.forward_steps(x), y)


def save_segmentations(path, scenes: S.Scenes, preds: dict, name: str, n: int = 6) -> None:
    """Rows of held-out scenes: input, truth, then each network's prediction; a colour key."""
    from matplotlib.patches import Patch

    cols = ["input", "truth", *preds]
    fig = Figure(figsize=(2.0 * len(cols), 2.0 * n + 0.9), dpi=100)
    axes = fig.subplots(n, len(cols), squeeze=False)
    for r in range(n):
        shown = [scenes.images[r, 0], S.colorize(scenes.labels[r])]
        shown += [S.colorize(p[r]) for p in preds.values()]
        for c, (ax, img) in enumerate(zip(axes[r], shown)):
            ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(cols[c], fontsize=10)
    key = [Patch(color=S.PALETTE[k] / 255, label=S.CLASS_NAMES[k]) for k in range(S.NUM_CLASSES)]
    fig.legend(handles=key, loc="lower center", ncol=S.NUM_CLASSES, fontsize=8, frameon=False)
    fig.suptitle(f"per-pixel classes on held-out {name} scenes", fontsize=11)
    _common._write(fig, path)


def save_iou_bars(path, ious: dict, name: str) -> None:
    fig = Figure(figsize=(8, 3.2), dpi=100)
    ax = fig.add_subplot()
    width = 0.8 / len(ious)
    for k, (label, iou) in enumerate(ious.items()):
        ax.bar(np.arange(len(iou)) + k * width, np.nan_to_num(iou), width, label=label)
    ax.set_xticks(np.arange(S.NUM_CLASSES) + 0.4 - width / 2, S.CLASS_NAMES)
    ax.set_ylabel("IoU")
    ax.set_ylim(0, 1)
    ax.set_title(f"IoU per class on held-out {name} scenes")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _common._write(fig, path)


def main(argv=None) -> dict:
    p = _common.make_parser(__doc__, resumable=True, epochs=12, digits_epochs=10, batch_size=32,
                            lr=5e-3)  # fmt: skip
    p.add_argument("--scenes", type=_common.positive_int, default=None,
                   help="training scenes (default: 8000 of MNIST, 6000 of the digits)")  # fmt: skip
    p.add_argument("--test-scenes", type=_common.positive_int, default=500)
    p.add_argument("--canvas", type=_common.positive_int, default=None,
                   help="scene side in pixels (default: twice the digit side)")  # fmt: skip
    p.add_argument("--per-scene", type=_common.positive_int, nargs=2, default=[2, 3],
                   metavar=("MIN", "MAX"), help="digits per scene (default: 2 3)")  # fmt: skip
    p.add_argument("--noise", type=float, default=0.0, help="std of Gaussian pixel noise")
    p.add_argument("--channels", type=_common.positive_int, nargs="+", default=[16, 32, 32])
    p.add_argument("--refine", type=int, default=0,
                   help="also train a refining network, this many steps (0: no)")  # fmt: skip
    p.add_argument("--constant-lr", action="store_true", help="keep --lr (default: cosine decay)")
    args = p.parse_args(argv)
    if args.refine < 0 or args.refine == 1:
        raise SystemExit("error: --refine must be 0 (off) or at least 2 steps")
    if args.noise < 0:
        raise SystemExit(f"error: --noise must be >= 0, got {args.noise}")
    if args.per_scene[0] > args.per_scene[1]:
        raise SystemExit(f"error: --per-scene MIN MAX with MIN <= MAX, got {args.per_scene}")
    out = _common.setup(args, "segment")
    train_set, test_set, name = _common.load_data(args)
    train_x, train_y = _common.all_images(train_set), _common.all_labels(train_set)
    test_x, test_y = _common.all_images(test_set), _common.all_labels(test_set)
    side = train_x.shape[-1]
    canvas = args.canvas or 2 * side
    levels = len(args.channels)
    if canvas % 2**levels or canvas < side:
        raise SystemExit(
            f"error: --canvas {canvas} must be at least the digit side {side} and divisible "
            f"by 2^{levels} (one halving per pooling level)"
        )
    n_train = args.scenes or (8000 if name != "digits" else 6000)
    common = dict(canvas=canvas, per_scene=tuple(args.per_scene), noise=args.noise)
    train_scenes = S.make_scenes(train_x, train_y, n_train, seed=args.seed, **common)
    test_scenes = S.make_scenes(test_x, test_y, args.test_scenes, seed=args.seed + 1, **common)
    _common.check_batch_fits(len(train_scenes), args, "training scenes")
    _common.say(
        f"segment: {name} digits ({side}x{side}), {n_train} train scenes / {args.test_scenes} "
        f"held-out scenes (test digits) of {canvas}x{canvas} with {args.per_scene[0]}-"
        f"{args.per_scene[1]} digits, noise {args.noise}; {_common.threads_line()}"
    )
    variants = {"one pass": 0}
    if args.refine:
        variants[f"refine x{args.refine}"] = args.refine
    results, preds, ious = {}, {}, {}
    for label, steps in variants.items():
        mg.manual_seed(args.seed)
        model = SegNet(1, S.NUM_CLASSES, tuple(args.channels), refine=steps)
        n_params = sum(int(np.prod(q.shape)) for q in model.parameters())
        _common.say(f"{label}: {n_params:,} parameters")
        suffix = "_refine" if steps else ""
        history = C.fit(
            model, train_scenes.images, train_scenes.labels, segmentation_loss, args, label, out,
            held_out(test_scenes), cosine=not args.constant_lr,
            checkpoint=f"checkpoint{suffix}.npz", fresh_if_missing=bool(steps),
        )  # fmt: skip
        cms = evaluate(model, test_scenes)
        history["steps"] = [
            {"pixel_accuracy": C.accuracy(cm), "mean_iou": C.mean_iou(cm)} for cm in cms
        ]
        history["iou_per_class"] = C.iou_per_class(cms[-1])
        history["parameters"] = n_params
        results[label] = history
        ious[label] = C.iou_per_class(cms[-1])
        preds[label] = C.predict(model, test_scenes.images[:6]).argmax(1)
        _common.save_model(model, out / f"model{suffix}.npz")

    print(f"\nheld-out scenes ({args.test_scenes}), {name}:")
    print(f"{'network':<12} {'step':>4} {'pixel acc':>10} {'mean IoU':>9} {'s/epoch':>8}")
    for label, h in results.items():
        for k, s in enumerate(h["steps"], 1):
            sec = f"{np.median(h['epoch_seconds']):>8.1f}" if k == len(h["steps"]) else ""
            print(f"{label:<12} {k:>4} {s['pixel_accuracy']:>10.4f} {s['mean_iou']:>9.4f} {sec}")
    for label, iou in ious.items():
        per = " ".join(f"{S.CLASS_NAMES[c]}:{v:.2f}" for c, v in enumerate(iou))
        print(f"IoU per class, {label}: {per}")
    save_segmentations(out / "segmentation.png", test_scenes, preds, name)
    save_iou_bars(out / "iou.png", ious, name)
    C.save_json(out / "history.json", results)
    _common.say(f"wrote {', '.join(sorted(q.name for q in out.iterdir()))} to {out}/")
    return results


if __name__ == "__main__":
    main()
