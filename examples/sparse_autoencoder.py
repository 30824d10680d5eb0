"""Sparse autoencoder: sigmoid code, loss + beta * sum_l KL(rho || rho_hat_l), rho_hat_l the
mean activation of hidden unit l over a batch.

The penalty's job is to make every unit's mean activation close to rho. After training
this prints the spread of the units' mean activations over the test images and writes:

    unit_mean_activation.png   histogram of rho_hat_l, one count per hidden unit, with rho
    activations.png            histogram of all activations h_l(x) over the test images
    filters.png                the encoder's filters (and the usual reconstructions, curves)

    python examples/sparse_autoencoder.py --epochs 10
    python examples/sparse_autoencoder.py --epochs 10 --beta 0     # no penalty, to compare
    python examples/sparse_autoencoder.py --epochs 10 --beta 3     # penalty alone wins
"""

from __future__ import annotations

import _common
import numpy as np

import minigrad as mg
from minigrad.models import SparseAutoencoder


def main(argv=None):
    p = _common.make_parser(__doc__, resumable=True, epochs=5, batch_size=64, lr=2e-3)
    p.add_argument("--hidden", type=_common.positive_int, default=196)
    p.add_argument("--rho", type=float, default=0.05, help="target mean activation")
    p.add_argument(
        "--beta",
        type=float,
        default=0.05,
        help="weight of the KL penalty (default: %(default)s). The reconstruction loss is a "
        "mean over pixels, so a beta weighs about 784 times more here than in UFLDL (whose "
        "squared error is summed over the pixels): at UFLDL's 3 the penalty drowns the "
        "reconstruction and the filters stay noise",
    )
    p.add_argument(
        "--weight-decay",
        type=float,
        default=0.0,
        help="lambda of the L2 penalty lambda * ||W||^2 (default: %(default)s)",
    )
    args = p.parse_args(argv)
    data = _common.load_data(args)
    history = _common.run(
        args,
        "sparse_autoencoder",
        lambda shape: SparseAutoencoder(
            int(np.prod(shape)), args.hidden, args.rho, args.beta, weight_decay=args.weight_decay
        ),
        data=data,
    )
    model, out, name = history["model"], history["out"], data[2]
    test_x = _common.all_images(data[1])
    model.eval()
    with mg.no_grad():
        h = np.concatenate(
            [
                model.encode(mg.tensor(test_x[i : i + 1000])).numpy()
                for i in range(0, len(test_x), 1000)
            ]
        )
    rho_hat = h.mean(axis=0)  # each unit's mean activation over the test images
    near = int(np.sum((rho_hat > args.rho / 2) & (rho_hat < 2 * args.rho)))
    lo, med, hi = np.percentile(rho_hat, [5, 50, 95])
    _common.say(
        f"mean activation of each of the {args.hidden} hidden units over the "
        f"{len(test_x):,} test images: median {med:.4f}, 5th-95th percentile {lo:.4f}-{hi:.4f} "
        f"(target rho = {args.rho}); {near} of {args.hidden} units within a factor of 2 of rho"
    )
    _common.say(f"mean hidden activation {h.mean():.4f} (target rho = {args.rho})")
    label = f"sparse autoencoder ({name}), rho = {args.rho}, beta = {args.beta}"
    _common.save_histogram(
        out / "unit_mean_activation.png",
        rho_hat,
        f"{label}\neach hidden unit's mean activation on the test images",
        xlabel="mean activation of a hidden unit over the test images",
        ylabel="number of hidden units",
        bins=50,
        range=(0.0, max(3 * args.rho, float(rho_hat.max()))),
        marks={
            f"target rho = {args.rho}": args.rho,
            f"mean = {rho_hat.mean():.4f}": rho_hat.mean(),
        },
    )
    _common.save_histogram(
        out / "activations.png",
        h,
        f"{label}\nall activations on the test images",
        xlabel="activation h_l(x) of a hidden unit on a test image",
        ylabel="count (unit, image pairs)",
        bins=50,
        range=(0.0, 1.0),
        log_y=True,
    )
    _common.say(f"wrote unit_mean_activation.png, activations.png to {out}/")
    history.update(rho_hat=rho_hat, activations=h)
    return history


if __name__ == "__main__":
    main()
