"""Deep autoencoder 784-1000-500-250-30 (Hinton and Salakhutdinov, 2006), optionally
pre-trained greedily layer by layer, compared with PCA using as many components as the code.

The paper reports an average squared error per test image of 3.00 for the deep autoencoder
and 13.87 for 30-component PCA on MNIST.

    python examples/deep_autoencoder.py --epochs 10 --pretrain-epochs 1
"""

from __future__ import annotations

import time

import _common
import numpy as np

from minigrad.models import DeepAutoencoder, pca


def main(argv=None):
    p = _common.make_parser(__doc__, epochs=2, batch_size=64, lr=1e-3)
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 500, 250, 30])
    p.add_argument("--activation", default="sigmoid", choices=["sigmoid", "relu", "tanh"])
    p.add_argument("--pretrain-epochs", type=int, default=0)
    args = p.parse_args(argv)
    data = _common.load_data(args)
    train_set, test_set, _ = data
    train_x = _common.all_images(train_set)

    def build(shape):
        sizes = [int(np.prod(shape))] + args.sizes
        model = DeepAutoencoder(sizes, activation=args.activation)
        if args.pretrain_epochs:
            print(f"greedy layer-wise pre-training, {args.pretrain_epochs} epoch(s) per layer")
            t0 = time.perf_counter()
            losses = model.pretrain(
                train_x, epochs=args.pretrain_epochs, batch_size=args.batch_size, lr=args.lr
            )
            for i, ls in enumerate(losses):
                print(f"  layer {i + 1}: loss {np.mean(ls[:20]):.4f} -> {np.mean(ls[-20:]):.4f}")
            print(f"  pre-training took {time.perf_counter() - t0:.0f} s")
        return model

    history = _common.run(args, "deep_autoencoder", build, data=data)
    test_x = _common.all_images(test_set)
    k = args.sizes[-1]
    comps, mean, _ = pca(train_x.reshape(len(train_x), -1), k)
    flat = test_x.reshape(len(test_x), -1).astype(np.float64) - mean
    pca_rec = (flat @ comps.T) @ comps
    pca_err = ((flat - pca_rec) ** 2).sum() / len(flat)
    out = history["out"]
    _common.save_image_grid(
        out / "pca_reconstructions.png",
        (pca_rec + mean)[:64].reshape(test_x[:64].shape),
        f"PCA with {k} components: reconstructions",
    )
    d = flat.shape[1]
    print(
        f"test squared error per image: deep autoencoder {history['test_mse'][-1] * d:.2f}, "
        f"PCA with {k} components {pca_err:.2f}"
    )
    return history


if __name__ == "__main__":
    main()
