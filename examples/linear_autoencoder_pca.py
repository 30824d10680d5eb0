"""A linear autoencoder trained with MSE finds PCA's subspace: prints the principal angles
between the decoder's columns and the top-k principal directions (normalised data).

    python examples/linear_autoencoder_pca.py --dataset digits --k 5
"""

from __future__ import annotations

import _common
import numpy as np

from minigrad import viz
from minigrad.models import linear_autoencoder_vs_pca


def main(argv=None):
    p = _common.make_parser(__doc__, dataset="digits", lr=0.1)
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--n", type=int, default=2000, help="number of training images used")
    args = p.parse_args(argv)
    out = _common.setup(args, "linear_autoencoder_pca")
    train_set, _, name = _common.load_data(args)
    x = _common.all_images(train_set, args.n)
    x = x.reshape(len(x), -1)
    r = linear_autoencoder_vs_pca(x, args.k, steps=args.steps, lr=args.lr, seed=args.seed)
    print(f"{name}: {len(x)} images, k = {args.k}")
    print("principal angles (rad):", np.array2string(r["angles"], precision=2))
    print(f"reconstruction error per image: PCA {r['pca_error']:.4f}, AE {r['ae_error']:.4f}")
    shape = int(round(np.sqrt(x.shape[1])))
    viz.save_filters(out / "pca_components.png", r["components"], shape=(shape, shape))
    viz.save_filters(out / "ae_decoder_columns.png", r["w_d"].T, shape=(shape, shape))
    viz.save_curves(out / "loss.png", {"train": r["losses"]}, log_y=True)
    print(f"wrote pictures to {out}/")
    return r


if __name__ == "__main__":
    main()
