"""Convolutional autoencoder: strided convolutions down to an 8 x 7 x 7 code (392 numbers
for 784 pixels), transpose convolutions back up (``--tied``: the decoder reuses the
encoder's kernels).

    python examples/conv_autoencoder.py                 # MNIST if present, else the digits
    python examples/conv_autoencoder.py --epochs 5 --dataset fashion-mnist
"""

from __future__ import annotations

import _common

from minigrad.models import ConvAutoencoder


def main(argv=None):
    p = _common.make_parser(__doc__, resumable=True, epochs=3, batch_size=64, lr=2e-3)
    p.add_argument("--channels", type=int, nargs="+", default=[16, 8])
    p.add_argument("--tied", action="store_true", help="decoder = encoder kernels transposed")
    args = p.parse_args(argv)
    return _common.run(
        args,
        "conv_autoencoder",
        lambda shape: ConvAutoencoder(shape[0], channels=args.channels, tied=args.tied),
    )


if __name__ == "__main__":
    main()
