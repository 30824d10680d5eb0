"""Deep autoencoder 784-1000-500-250-30 (Hinton and Salakhutdinov, Science 2006), compared
with PCA using as many components as the code.

The encoder's hidden layers are sigmoid, the 30-unit code linear, the output sigmoid with
cross-entropy. It is pre-trained greedily, one layer at a time (--pretrain):

  rbm          a stack of restricted Boltzmann machines trained by contrastive divergence,
               the top one with linear (Gaussian) hidden units, as in the paper (its code:
               CD-1, batches of 100, learning rate 0.1, 0.001 for the linear layer,
               momentum 0.5 then 0.9, weight decay 0.0002; 50 epochs per layer)
  autoencoder  each layer the encoder of a shallow autoencoder of the layer below (Adam)
  none         random initialisation

then fine-tuned as a whole with Adam (learning rate --lr halved every --lr-half-life
epochs). The test error is printed after every epoch and a checkpoint written; --resume
continues an interrupted run (pre-training included), also with a larger --epochs.

    python examples/deep_autoencoder.py                    # a few minutes; not converged
    python examples/deep_autoencoder.py --dataset digits   # 64-256-128-64-8 on the 8x8
                                                           # digits: about 20 s, beats PCA
    python examples/deep_autoencoder.py --pretrain-epochs 50 --epochs 200   # the paper's
    python examples/deep_autoencoder.py --sizes 30 --pretrain none --epochs 50
                                                           # logistic PCA: 784-30-784

The paper's average squared errors per MNIST test image: deep autoencoder 3.00, logistic
PCA 8.01, PCA 13.87. Results and times: docs/autoencoders.md.
"""

from __future__ import annotations

import time

import _common
import numpy as np

import minigrad as mg
from minigrad.models import DeepAutoencoder, pca, pretrain_rbm_stack

PAPER = {"deep autoencoder": 3.00, "logistic PCA": 8.01, "PCA": 13.87}  # MNIST, 30-d code
# The 8x8 digits have 64 pixels, so the paper's 30-d code would keep half of them and PCA
# with 30 components is nearly exact; a smaller network with an 8-d code and more
# pre-training suits their 1,500 training images (it beats PCA in about 20 s).
DEFAULTS = {  # per dataset: layer sizes after the input, pre-training epochs per layer
    "mnist": ([1000, 500, 250, 30], 1),
    "fashion-mnist": ([1000, 500, 250, 30], 1),
    "digits": ([256, 128, 64, 8], 10),
}


def _parser():
    p = _common.make_parser(
        __doc__, resumable=True, epochs=3, digits_epochs=100, batch_size=100, lr=1e-3
    )
    p.add_argument(
        "--sizes",
        type=_common.positive_int,
        nargs="+",
        default=None,
        help="layer sizes after the input, the last one the code (default: 1000 500 250 "
        "30 as in the paper; 256 128 64 8 on the digits)",
    )
    p.add_argument("--activation", default="sigmoid", choices=["sigmoid", "relu", "tanh"])
    p.add_argument("--pretrain", choices=["rbm", "autoencoder", "none"], default="rbm")
    p.add_argument(
        "--pretrain-epochs",
        type=_common.positive_int,
        default=None,
        help="pre-training epochs per layer (the paper: 50 RBM epochs; default 1, 10 on "
        "the digits)",
    )
    p.add_argument(
        "--pretrain-lr",
        type=float,
        default=None,
        help="pre-training learning rate (default: 0.1 for binary RBMs and 0.001 for the "
        "RBM with linear hidden units, as in the paper; --lr for autoencoders)",
    )
    p.add_argument("--cd-k", type=_common.positive_int, default=1, help="CD-k Gibbs steps")
    p.add_argument(
        "--lr-half-life",
        type=float,
        default=40.0,
        help="fine-tuning epochs over which the learning rate halves; 0: constant "
        "(default %(default)s). A function of the epoch alone, so runs of any length "
        "agree epoch by epoch and a resumed run can go on",
    )
    return p


def _pretrain_rbm(args, model, x, state, save):
    """Greedy RBM stack, with a progress bar per layer-epoch and a checkpoint after each."""
    sizes = model.sizes
    lr = 0.1 if args.pretrain_lr is None else args.pretrain_lr
    lr_gaussian = 0.001 if args.pretrain_lr is None else args.pretrain_lr
    n_batches = max(1, len(x) // args.batch_size)
    bars = {}

    def on_batch(done, total):
        bars["bar"].update(1)

    def start_bar(layer, epoch):
        kind = "linear" if layer == len(sizes) - 2 else "binary"
        bars["bar"] = _common.progress(
            n_batches,
            f"RBM {layer + 1} ({sizes[layer]}-{sizes[layer + 1]} {kind}) "
            f"epoch {epoch}/{args.pretrain_epochs}",
            unit="batch",
            leave=False,
        )

    t0 = [time.perf_counter()]
    if state["layer"] < len(sizes) - 1:
        start_bar(state["layer"], state["epoch"] + 1)

    def on_epoch(info):
        bars["bar"].close()
        stats, layer, epoch = info["stats"], info["layer"], info["epoch"]
        seconds = time.perf_counter() - t0[0]
        t0[0] = time.perf_counter()
        _common.say(
            f"  RBM {layer + 1} epoch {epoch}: reconstruction error "
            f"{stats['reconstruction_error']:.3f} per example, free energy of the data "
            f"{stats['free_energy']:.2f}, {seconds:.1f} s"
        )
        save(info["state"], seconds)
        nxt = info["state"]["layer"], info["state"]["epoch"] + 1
        if nxt[0] < len(sizes) - 1:
            start_bar(*nxt)

    rbms = pretrain_rbm_stack(
        sizes,
        x,
        epochs=args.pretrain_epochs,
        batch_size=args.batch_size,
        lr=lr,
        lr_gaussian=lr_gaussian,
        k=args.cd_k,
        seed=args.seed,
        state=state,
        on_epoch=on_epoch,
        on_batch=on_batch,
    )
    if "bar" in bars:
        bars["bar"].close()
    model.init_from_rbms(rbms)


def _pretrain_autoencoders(args, model, x, start_layer, save):
    """Greedy shallow autoencoders, a progress bar per layer, a checkpoint after each."""
    sizes = model.sizes
    bars = {}
    t0 = [time.perf_counter()]

    def on_step(layer, step, total, loss):
        if step == 1:
            bars["bar"] = _common.progress(
                total,
                f"autoencoder {layer + 1} ({sizes[layer]}-{sizes[layer + 1]}), "
                f"{args.pretrain_epochs} epoch(s)",
                unit="batch",
            )
        bars["bar"].update(1)
        bars["bar"].set_postfix(loss=f"{loss:.4f}", refresh=False)

    def on_layer(layer, _):
        bars.pop("bar").close()
        seconds = time.perf_counter() - t0[0]
        t0[0] = time.perf_counter()
        save(layer + 1, seconds)

    losses = model.pretrain(
        x,
        epochs=args.pretrain_epochs,
        batch_size=args.batch_size,
        lr=args.lr if args.pretrain_lr is None else args.pretrain_lr,
        seed=args.seed,
        start_layer=start_layer,
        on_layer=on_layer,
        on_step=on_step,
    )
    for i, ls in enumerate(losses):
        if ls:
            _common.say(f"  layer {i + 1}: loss {np.mean(ls[:20]):.4f} -> {np.mean(ls[-20:]):.4f}")


def _extra(state: dict) -> dict:
    """The run's own state for a checkpoint (what save_checkpoint does not add itself)."""
    return {
        k: v
        for k, v in state.items()
        if k not in ("model", "optimizer", "flags", "epoch", "history")
    }


def main(argv=None):
    args = _parser().parse_args(argv)
    out = _common.setup(args, "deep_autoencoder")
    train_set, test_set, name = _common.load_data(args)
    train_x, test_x = _common.all_images(train_set), _common.all_images(test_set)
    default_sizes, default_pretrain_epochs = DEFAULTS[name]
    args.sizes = args.sizes or default_sizes
    args.pretrain_epochs = args.pretrain_epochs or default_pretrain_epochs
    flat = train_x.reshape(len(train_x), -1)
    sizes = [flat.shape[1], *args.sizes]
    _common.check_batch_fits(len(train_x), args)
    model = DeepAutoencoder(sizes, activation=args.activation)
    optimizer = mg.optim.Adam(model.parameters(), lr=args.lr)
    ckpt = out / "checkpoint.npz"
    flags = _common.flags_of(args)
    arch = "-".join(map(str, sizes))
    n_params = sum(int(np.prod(p.shape)) for p in model.parameters())
    _common.say(
        f"deep autoencoder {arch}-{'-'.join(map(str, sizes[-2::-1]))} on {name}: "
        f"{len(train_x)} train / {len(test_x)} test images, {n_params:,} parameters, "
        f"{_common.threads_line()}; pre-training: {args.pretrain}"
    )

    # ---------------------------------------------------------------- resume
    state = {"phase": "pretrain", "pretrain_seconds": 0.0, "rbm_state": None, "layers_done": 0}
    history, start = _common.new_history(), 1
    if args.resume:
        state = _common.load_checkpoint(ckpt)
        _common.check_same_flags(state["flags"], args, ckpt)
        model.load_state_dict(state["model"])
        if state["phase"] == "finetune":
            optimizer.load_state_dict(state["optimizer"])
            history, start = state["history"], state["epoch"] + 1
            _common.say(f"resuming fine-tuning after epoch {state['epoch']} (from {ckpt})")
        else:
            _common.say(f"resuming pre-training (from {ckpt})")

    # ---------------------------------------------------------------- pre-training
    if state["phase"] == "pretrain" and args.pretrain != "none":
        per = f"{args.pretrain_epochs} epoch(s) per layer"
        kind = "RBMs" if args.pretrain == "rbm" else "shallow autoencoders"
        _common.say(f"greedy layer-wise pre-training with {kind}, {per}")
        t_start = time.perf_counter()

        def save(progress, seconds):
            state["pretrain_seconds"] += seconds
            if args.pretrain == "rbm":
                state["rbm_state"] = progress
            else:
                state["layers_done"] = progress
            _common.save_checkpoint(ckpt, model, **_extra(state), flags=flags)

        if args.pretrain == "rbm":
            rbm_state = state["rbm_state"] or {"layer": 0, "epoch": 0, "rbms": [], "log": []}
            _pretrain_rbm(args, model, flat, rbm_state, save)
            state["pretrain_log"] = state["rbm_state"]["log"]
        else:
            _pretrain_autoencoders(args, model, flat, state["layers_done"], save)
        _common.say(
            f"  pre-training took {state['pretrain_seconds']:.0f} s "
            f"({time.perf_counter() - t_start:.0f} s in this run)"
        )
    state["phase"] = "finetune"
    state.pop("rbm_state", None)  # the RBMs now live in the model's weights

    # ---------------------------------------------------------------- fine-tuning
    def lr_at(epoch):
        if args.lr_half_life <= 0:
            return args.lr
        return args.lr * 0.5 ** ((epoch - 1) / args.lr_half_life)

    def checkpoint(epoch, history):
        _common.save_checkpoint(
            ckpt, model, optimizer, **_extra(state), epoch=epoch, history=history, flags=flags
        )

    if start <= args.epochs:
        _common.say(
            f"fine-tuning the unrolled network with Adam, lr {args.lr} halving every "
            f"{args.lr_half_life:g} epochs, batches of {args.batch_size}"
        )
    history = _common.train(
        model,
        optimizer,
        train_x,
        test_x,
        args,
        "fine-tuning",
        history,
        start,
        lr_at=lr_at,
        after_epoch=checkpoint,
    )

    # ---------------------------------------------------------------- PCA and the report
    k = args.sizes[-1]
    comps, mean, _ = pca(flat, k)
    test_flat = test_x.reshape(len(test_x), -1).astype(np.float64) - mean
    pca_rec = (test_flat @ comps.T) @ comps
    pca_err = float(((test_flat - pca_rec) ** 2).sum() / len(test_flat))
    ours = history["test_sq_err"][-1]
    refs = {f"PCA, {k} components ({pca_err:.2f})": pca_err}
    if name == "mnist" and args.sizes == [1000, 500, 250, 30]:
        refs["the paper's deep autoencoder (3.00)"] = PAPER["deep autoencoder"]
    if name == "mnist" and args.sizes == [30]:
        refs["the paper's logistic PCA (8.01)"] = PAPER["logistic PCA"]
    if len(sizes) == 2:
        title = f"{arch}-{sizes[0]} autoencoder, linear code, logistic output ({name})"
    else:
        how = "no" if args.pretrain == "none" else args.pretrain.replace("rbm", "RBM")
        title = f"deep autoencoder {arch} ({name}), {how} pre-training"
    _common.finish(out, model, test_x, history, title, model.filters(), refs)
    _common.save_image_grid(
        out / "pca_reconstructions.png",
        (pca_rec + mean)[:64].reshape(test_x[:64].shape),
        f"PCA with {k} components ({name}): reconstructions",
    )
    if state.get("pretrain_log"):
        log = state["pretrain_log"]
        curves = {}
        for layer in sorted({e["layer"] for e in log}):
            rows = [e for e in log if e["layer"] == layer]
            label = f"RBM {layer + 1}: {sizes[layer]}-{sizes[layer + 1]}"
            curves[label] = ([e["epoch"] for e in rows], [e["reconstruction_error"] for e in rows])
        _common.save_curves(
            out / "pretraining.png",
            curves,
            f"RBM pre-training ({name}): CD-{args.cd_k} reconstructions",
            xlabel="epoch (of that layer)",
            ylabel="squared error per example (v vs v_k)",
            log_y=True,
        )

    epochs = len(history["test_sq_err"])
    seconds = sum(history["epoch_seconds"])
    pre = (
        "no pre-training"
        if args.pretrain == "none"
        else f"{args.pretrain.replace('rbm', 'RBM')} pre-training ({args.pretrain_epochs} "
        "epoch(s) per layer, "
        f"{state['pretrain_seconds']:.0f} s)"
    )
    what = "deep autoencoder" if len(sizes) > 2 else "autoencoder (logistic PCA)"
    _common.say(
        f"\ntest squared error per image (sum over the {test_flat.shape[1]} pixels, mean over "
        f"{len(test_x):,} test images):\n"
        f"  {what} {arch}, {pre}, {epochs} fine-tuning epochs ({seconds:.0f} s): "
        f"{ours:.2f}\n"
        f"  PCA with {k} components: {pca_err:.2f}"
    )
    if name == "mnist":
        _common.say(
            "  the paper (MNIST, 30-d code): deep autoencoder 3.00, logistic PCA 8.01, PCA 13.87"
        )
    errs = history["test_sq_err"]
    before = errs[max(0, len(errs) - 6)]
    if len(errs) < 10 or errs[-1] < 0.99 * before:
        drop = 100 * (1 - errs[-1] / before) if len(errs) > 1 else float("nan")
        longer = (
            " The paper's 3.00 took 50 RBM epochs per layer and 200 fine-tuning epochs; "
            "see docs/autoencoders.md for ours (--pretrain-epochs 50 --epochs 200)."
            if name != "digits"
            else " Train longer with --resume --epochs N (the run goes on from its checkpoint)."
        )
        _common.say(
            f"NOT CONVERGED: {epochs} fine-tuning epoch(s) is a short run"
            + (f" and the error still fell {drop:.1f}% over the last epochs" if drop > 1 else "")
            + "."
            + longer
        )
    verdict = "beats" if ours < pca_err else "does not beat"
    _common.say(f"  the autoencoder {verdict} PCA ({ours:.2f} vs {pca_err:.2f})")
    history.update(model=model, out=out, pca_error=pca_err, name=name)
    return history


if __name__ == "__main__":
    main()
