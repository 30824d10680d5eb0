"""Greedy layer-wise pre-training of a classifier, then fine-tuning the whole stack.

--mode unsupervised trains each hidden layer as a shallow autoencoder of the layer below;
--mode supervised trains it as the hidden layer of a depth-two classifier. Then the stack
plus a softmax output layer is fine-tuned with back-propagation, and compared with the same
network trained from random initialisation for the same number of epochs.

    python examples/layerwise_pretraining.py --mode unsupervised --sizes 500 250
"""

from __future__ import annotations

import time

import _common
import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim
from minigrad.models import pretrain_layerwise


def _accuracy(net, x, y) -> float:
    net.eval()
    with mg.no_grad():
        chunks = [net(mg.tensor(x[i : i + 1000])).numpy() for i in range(0, len(x), 1000)]
    pred = np.concatenate(chunks)
    net.train()
    return float((pred.argmax(axis=1) == y).mean())


def _finetune(net, x, y, test_x, test_y, args, label):
    opt = optim.Adam(net.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    history = []
    for epoch in range(1, args.epochs + 1):
        t0 = time.perf_counter()
        order = rng.permutation(len(x))
        n_steps = len(x) // args.batch_size
        bar = _common.progress(n_steps * args.batch_size, f"{label} epoch {epoch}/{args.epochs}")
        total = 0.0
        for step in range(n_steps):
            idx = order[step * args.batch_size : (step + 1) * args.batch_size]
            loss = F.cross_entropy(net(mg.tensor(x[idx])), mg.tensor(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.item())
            bar.update(len(idx))
            bar.set_postfix(loss=f"{total / (step + 1):.4f}", refresh=False)
        bar.close()
        history.append(1 - _accuracy(net, test_x, test_y))
        print(f"  test error {history[-1]:.4f}  ({time.perf_counter() - t0:.1f} s)")
    return history


def _stack(sizes, n_classes):
    layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    modules = []
    for layer in layers:
        modules += [layer, nn.Sigmoid()]
    head = nn.Linear(sizes[-1], n_classes)
    return layers, nn.Sequential(*modules, head), head


def main(argv=None):
    p = _common.make_parser(__doc__, epochs=2, batch_size=64, lr=1e-3, limit=10000)
    p.add_argument("--mode", choices=["unsupervised", "supervised"], default="unsupervised")
    p.add_argument("--sizes", type=_common.positive_int, nargs="+", default=[256, 128])
    p.add_argument("--pretrain-epochs", type=_common.positive_int, default=1)
    args = p.parse_args(argv)
    out = _common.setup(args, "layerwise_pretraining", data_parallel=False)
    train_set, test_set, name = _common.load_data(args)
    x, y = train_set[np.arange(len(train_set))]
    test_x, test_y = test_set[np.arange(len(test_set))]
    x, y, test_x, test_y = (_common._array(a) for a in (x, y, test_x, test_y))
    test_shape = test_x.shape[-2:]
    x, test_x = x.reshape(len(x), -1), test_x.reshape(len(test_x), -1)
    sizes, n_classes = [x.shape[1], *args.sizes], int(y.max()) + 1
    print(f"{name}: {len(x)} training images, network {'-'.join(map(str, sizes))}-{n_classes}")

    layers, net, head = _stack(sizes, n_classes)
    print(f"greedy {args.mode} pre-training, {args.pretrain_epochs} epoch(s) per layer")
    bars = {}

    def on_step(layer, step, total, loss):
        if step == 1:
            bars["bar"] = _common.progress(total, f"pre-training layer {layer + 1}", unit="batch")
        bars["bar"].update(1)
        bars["bar"].set_postfix(loss=f"{loss:.4f}", refresh=False)

    result = pretrain_layerwise(
        layers,
        x,
        mode=args.mode,
        targets=y,
        epochs=args.pretrain_epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        on_layer=lambda i, top: bars.pop("bar").close(),
        on_step=on_step,
    )
    for i, losses in enumerate(result["losses"]):
        print(f"  layer {i + 1}: loss {np.mean(losses[:20]):.4f} -> {np.mean(losses[-20:]):.4f}")
    if args.mode == "supervised":  # the top layer's classifier head starts the output layer
        head.weight.data.copy_(result["heads"][-1].weight.data)
        head.bias.data.copy_(result["heads"][-1].bias.data)
    pre = _finetune(net, x, y, test_x, test_y, args, "pre-trained")

    mg.manual_seed(args.seed)
    _, scratch, _ = _stack(sizes, n_classes)
    base = _finetune(scratch, x, y, test_x, test_y, args, "from scratch")
    print(
        f"test error after {args.epochs} epoch(s): pre-trained {pre[-1]:.4f}, "
        f"from scratch {base[-1]:.4f}"
    )
    _common.save_curves(
        out / "test_error.png",
        {"pre-trained, then fine-tuned": pre, "from random initialisation": base},
        f"{name}: {'-'.join(map(str, sizes))}-{n_classes} classifier",
        xlabel="fine-tuning epoch",
        ylabel="test error (fraction misclassified)",
    )
    _common.save_filters(
        out / "filters.png",
        layers[0].weight.numpy().reshape(-1, *test_shape),
        f"{name}: first-layer filters after {args.mode} pre-training and fine-tuning",
    )
    mg.save(net.state_dict(), str(out / "model.npz"))
    print(f"wrote test_error.png, filters.png, model.npz to {out}/")
    return {"pretrained": pre, "scratch": base}


if __name__ == "__main__":
    main()
