"""Sparse autoencoder: sigmoid code, loss + beta * sum_l KL(rho || rho_hat_l).

Prints the mean hidden activation at the end: it should sit near --rho.
"""

from __future__ import annotations

import _common
import numpy as np

import minigrad as mg
from minigrad.models import SparseAutoencoder


def main(argv=None):
    p = _common.make_parser(__doc__, resumable=True, epochs=2, batch_size=64, lr=2e-3)
    p.add_argument("--hidden", type=int, default=196)
    p.add_argument("--rho", type=float, default=0.05)
    p.add_argument("--beta", type=float, default=0.1)
    args = p.parse_args(argv)
    data = _common.load_data(args)
    history = _common.run(
        args,
        "sparse_autoencoder",
        lambda shape: SparseAutoencoder(int(np.prod(shape)), args.hidden, args.rho, args.beta),
        data=data,
    )
    test_set = data[1]
    with mg.no_grad():
        h = history["model"].encode(mg.tensor(_common.all_images(test_set, 1000))).numpy()
    print(f"mean hidden activation {h.mean():.4f} (target rho = {args.rho})")
    return history


if __name__ == "__main__":
    main()
