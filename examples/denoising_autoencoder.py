"""Denoising autoencoder: corrupt x to x~ and learn to reconstruct the clean x.

With masking noise the first layer learns local stroke detectors (the slides' pictures):
see filters.png in --out.

    python examples/denoising_autoencoder.py --noise mask --noise-level 0.25
    python examples/denoising_autoencoder.py --noise gaussian --noise-level 0.3
"""

from __future__ import annotations

import _common
import numpy as np

from minigrad.models import DenoisingAutoencoder


def main(argv=None):
    p = _common.make_parser(__doc__, resumable=True, epochs=3, batch_size=32, lr=1e-3)
    p.add_argument("--hidden", type=_common.positive_int, default=100)
    p.add_argument("--noise", choices=["mask", "gaussian"], default="mask")
    p.add_argument("--noise-level", type=float, default=0.25, help="q for mask, sigma else")
    p.add_argument("--tied", action="store_true", help="decoder weight = encoder weight^T")
    args = p.parse_args(argv)
    what = "masking noise q" if args.noise == "mask" else "Gaussian noise sigma"
    data = _common.load_data(args)
    return _common.run(
        args,
        "denoising_autoencoder",
        lambda shape: DenoisingAutoencoder(
            int(np.prod(shape)),
            args.hidden,
            noise=args.noise,
            noise_level=args.noise_level,
            tied=args.tied,
            seed=args.seed,
        ),
        data=data,
        title=f"denoising autoencoder ({data[2]}), {what} = {args.noise_level}",
    )


if __name__ == "__main__":
    main()
