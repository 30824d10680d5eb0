"""A linear autoencoder trained with MSE finds PCA's subspace: prints the principal angles
between the decoder's columns and the top-k principal directions (normalised data), and
both reconstruction errors.

    python examples/linear_autoencoder_pca.py                       # MNIST, else the digits
    python examples/linear_autoencoder_pca.py --dataset fashion-mnist --k 8
    python examples/linear_autoencoder_pca.py --dataset digits --k 5

Writes pca_components.png, ae_decoder_columns.png and loss.png to --out.
"""

from __future__ import annotations

import _common
import numpy as np

from minigrad.models import linear_autoencoder_vs_pca


def main(argv=None):
    p = _common.make_parser(__doc__, lr=0.1)
    p.add_argument("--k", type=_common.positive_int, default=4, help="code size")
    p.add_argument("--steps", type=_common.positive_int, default=1000, help="full-batch steps")
    p.add_argument(
        "--n", type=_common.positive_int, default=2000, help="number of training images used"
    )
    args = p.parse_args(argv)
    out = _common.setup(args, "linear_autoencoder_pca", data_parallel=False)
    train_set, _, name = _common.load_data(args)
    images = _common.all_images(train_set, args.n)
    x = images.reshape(len(images), -1)
    _common.say(f"{name}: {len(x)} training images of {x.shape[1]} pixels, k = {args.k}")
    r = linear_autoencoder_vs_pca(x, args.k, steps=args.steps, lr=args.lr, seed=args.seed)
    _common.say(
        "principal angles between the subspaces (radians):",
        np.array2string(r["angles"], precision=4),
    )
    _common.say(
        f"reconstruction error per image (normalised pixels): PCA {r['pca_error']:.4f}, "
        f"linear autoencoder {r['ae_error']:.4f}"
    )
    shape = images.shape[-2:]
    _common.save_filters(
        out / "pca_components.png",
        r["components"].reshape(-1, *shape),
        f"{name}: the top {args.k} principal directions",
        ncol=min(args.k, 8),
    )
    _common.save_filters(
        out / "ae_decoder_columns.png",
        r["w_d"].T.reshape(-1, *shape),
        f"{name}: the linear autoencoder's {args.k} decoder columns",
        ncol=min(args.k, 8),
        caption="same subspace as PCA, another basis; each stretched to its own range",
    )
    _common.save_curves(
        out / "loss.png",
        {"linear autoencoder": r["losses"]},
        f"{name}: linear autoencoder, k = {args.k}",
        xlabel="full-batch step",
        ylabel="squared error per image (normalised pixels)",
        log_y=True,
        refs={"PCA (the minimum)": r["pca_error"]},
    )
    _common.say(f"wrote pca_components.png, ae_decoder_columns.png, loss.png to {out}/")
    r["name"], r["out"] = name, out
    return r


if __name__ == "__main__":
    main()
