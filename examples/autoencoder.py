"""Undercomplete autoencoder h = f(W_e x + b), x_hat = g(W_d h + c).

--decoder sigmoid   cross-entropy on (binarized with --binarize) pixels
--decoder linear    MSE on real-valued pixels
--tied              W_d = W_e^T
--weight-decay L    adds L * ||W||^2
"""

from __future__ import annotations

import _common
import numpy as np

from minigrad.models import Autoencoder


def main(argv=None):
    p = _common.make_parser(__doc__, resumable=True, epochs=2, batch_size=64, lr=2e-3)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--decoder", choices=["sigmoid", "linear"], default="sigmoid")
    p.add_argument("--tied", action="store_true")
    p.add_argument("--weight-decay", type=float, default=0.0)
    args = p.parse_args(argv)
    return _common.run(
        args,
        "autoencoder",
        lambda shape: Autoencoder(
            int(np.prod(shape)),
            args.hidden,
            decoder=args.decoder,
            tied=args.tied,
            weight_decay=args.weight_decay,
        ),
    )


if __name__ == "__main__":
    main()
