"""Convolution over time: the chapter's opening example (book sec. 9.1).

A laser sensor reads the position x(t) of a moving object (a spaceship, in the book) with
noise; a less noisy estimate s(t) = sum_a w(a) x(t - a) is a weighted average of the
readings. Here the weights w are learned: a conv1d kernel trained to map noisy readings to
the true trajectory (mean squared error), for two kernels:

- centred: the estimate at t uses readings from both sides of t (padding on both sides),
- causal: padding only on the past side, so the estimate at t uses readings up to t alone
  (what one can compute live); its kernel is the book's weighting of past readings.

The object sways back and forth (its position a sum of slow random oscillations, variance
1); readings are positions plus Gaussian noise of standard deviation --noise (several levels).
Each learned kernel is checked against the least-squares kernel computed in closed form on
the same training data, and against a plain moving average of the same width.

    python examples/sequence.py
    python examples/sequence.py --noise 0.1 0.5 1 --kernel-size 31

Prints, per noise level, the root-mean-square error of the readings and of each estimate,
and writes to --out (default out/sequence): kernels.png (the learned kernels against the
lag, with the least-squares ones), trajectory.png (true path, readings, both estimates),
error.png (error against noise level), model_<variant>_<noise>.npz, history.json.
"""

from __future__ import annotations

import argparse
import time

import _cnn_common as C
import _common
import numpy as np
from matplotlib.figure import Figure

import minigrad as mg
import minigrad.functional as F
from minigrad import nn, optim

VARIANTS = ("centred", "causal")


def trajectories(n: int, length: int, rng: np.random.Generator, waves: int = 3):
    """``n`` true paths of ``length`` steps, float64 (n, length): the object sways back and
    forth, its position a sum of ``waves`` sinusoids with random periods (25 to 150 steps),
    phases and amplitudes (variance 1 in total). Bounded paths keep the least-squares
    problem well conditioned; a drifting object (positions in the tens against noise of
    0.05) makes gradient descent crawl along nearly flat directions."""
    t = np.arange(length)
    period = rng.uniform(25, 150, size=(n, waves, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n, waves, 1))
    amp = rng.normal(0, np.sqrt(2.0 / waves), size=(n, waves, 1))
    return (amp * np.sin(2 * np.pi * t / period + phase)).sum(axis=1)


class Smoother(nn.Module):
    """s = w * x: one conv1d kernel of ``kernel_size`` taps (odd), no bias. Readings beyond
    the ends are the first / last reading repeated (replicate padding): ``causal`` pads
    kernel_size - 1 readings on the past side only, so output t sees inputs 0..t;
    otherwise (kernel_size - 1) / 2 on each side."""

    def __init__(self, kernel_size: int, causal: bool):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"Smoother: kernel_size must be odd and positive, got {kernel_size}")
        self.causal, self.k = causal, kernel_size
        self.conv = nn.Conv1d(1, 1, kernel_size, bias=False)
        with mg.no_grad():  # start from the moving average, the book's uniform weighting
            self.conv.weight.fill_(1.0 / kernel_size)

    def start_at_identity(self) -> Smoother:
        """All weight on the current reading: the estimate starts as the readings."""
        with mg.no_grad():
            w = np.zeros((1, 1, self.k), np.float32)
            w[0, 0, self.pad()[0]] = 1.0
            self.conv.weight.copy_(mg.tensor(w))
        return self

    def pad(self) -> tuple[int, int]:
        return (self.k - 1, 0) if self.causal else ((self.k - 1) // 2, (self.k - 1) // 2)

    def forward(self, x):
        return self.conv(F.pad(x, self.pad(), mode="replicate"))

    def weights_by_lag(self) -> tuple[np.ndarray, np.ndarray]:
        """(lags a, w(a)): s(t) = sum_a w(a) x(t - a). conv1d correlates, so tap j of the
        weight multiplies input t + j - pad_left: lag a = pad_left - j."""
        w = self.conv.weight.numpy()[0, 0].astype(np.float64)
        lags = self.pad()[0] - np.arange(self.k)
        return lags, w


def least_squares_kernel(readings, truth, k: int, causal: bool) -> np.ndarray:
    """The kernel minimising the same squared error, solved in closed form (normal
    equations on the padded readings), in the conv1d weight's tap order."""
    left = k - 1 if causal else (k - 1) // 2
    right = 0 if causal else (k - 1) // 2
    padded = np.pad(readings, ((0, 0), (left, right)), mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, k, axis=1)  # (n, L, k)
    a = windows.reshape(-1, k)
    w, *_ = np.linalg.lstsq(a, truth.reshape(-1), rcond=None)
    return w


def rmse(a, b) -> float:
    return float(np.sqrt(np.mean((np.asarray(a, np.float64) - b) ** 2)))


def train_smoother(x, y, args, causal: bool, label: str) -> tuple[Smoother, list]:
    model = Smoother(args.kernel_size, causal)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    n_batches = len(x) // args.batch_size
    losses, lr_at = [], C.cosine_lr(args)
    bar = _common.progress(args.epochs, label, unit="epoch", leave=False)
    for epoch in range(1, args.epochs + 1):
        for group in opt.param_groups:
            group["lr"] = lr_at(epoch)
        order = _common.epoch_order(len(x), args.seed, epoch)
        total = 0.0
        for step in range(n_batches):
            idx = order[step * args.batch_size : (step + 1) * args.batch_size]
            loss = F.mse_loss(model(mg.tensor(x[idx])), mg.tensor(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.item())
        losses.append(total / n_batches)
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.5f}", refresh=False)
    bar.close()
    return model, losses


def make_parser() -> argparse.ArgumentParser:
    """The examples' flags that apply here (no dataset: the data are simulated)."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--noise", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.5, 1.0],
                   help="reading noise std, a model pair each (default: %(default)s)")  # fmt: skip
    p.add_argument("--kernel-size", type=_common.positive_int, default=21, help="odd")
    p.add_argument("--length", type=_common.positive_int, default=200, help="time steps")
    p.add_argument("--sequences", type=_common.positive_int, default=512, help="training paths")
    p.add_argument("--epochs", type=_common.positive_int, default=100)
    p.add_argument("--batch-size", type=_common.positive_int, default=32)
    p.add_argument("--lr", type=float, default=1e-2, help="first epoch's; cosine decay")
    p.add_argument("--threads", type=_common.positive_int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="output folder (default: ./out/sequence)")
    return p


def main(argv=None) -> dict:
    args = make_parser().parse_args(argv)
    if args.kernel_size % 2 == 0:
        raise SystemExit(f"error: --kernel-size must be odd, got {args.kernel_size}")
    if any(s < 0 for s in args.noise):
        raise SystemExit(f"error: --noise levels must be >= 0, got {args.noise}")
    if args.batch_size > args.sequences:
        raise SystemExit(f"error: --batch-size {args.batch_size} > --sequences {args.sequences}")
    out = _common.setup(args, "sequence", data_parallel=False)
    rng = np.random.default_rng(args.seed)
    truth = trajectories(args.sequences, args.length, rng)
    test_truth = trajectories(256, args.length, rng)
    _common.say(
        f"sequence: {args.sequences} training / 256 test paths of {args.length} steps, "
        f"kernel of {args.kernel_size} taps, noise levels {args.noise}"
    )
    results = {"noise": list(args.noise), "readings": [], "moving_average": []}
    for v in VARIANTS:
        results[v] = []
        results[f"{v}_least_squares"] = []
    models = {}
    t0 = time.perf_counter()
    for sigma in args.noise:
        x = (truth + rng.normal(0, sigma, truth.shape))[:, None].astype(np.float32)
        tx = (test_truth + rng.normal(0, sigma, test_truth.shape))[:, None].astype(np.float32)
        y, ty = truth[:, None].astype(np.float32), test_truth[:, None].astype(np.float32)
        results["readings"].append(rmse(tx, ty))
        box = Smoother(args.kernel_size, causal=False)  # the untrained start: a moving average
        results["moving_average"].append(rmse(C.predict(box, tx), ty))
        for v in VARIANTS:
            causal = v == "causal"
            model, losses = train_smoother(x, y, args, causal, f"{v} noise {sigma}")
            est = C.predict(model, tx)
            ls = least_squares_kernel(x[:, 0].astype(np.float64), truth, args.kernel_size, causal)
            ls_model = Smoother(args.kernel_size, causal)
            with mg.no_grad():
                ls_model.conv.weight.copy_(mg.tensor(ls.reshape(1, 1, -1).astype(np.float32)))
            results[v].append(rmse(est, ty))
            results[f"{v}_least_squares"].append(rmse(C.predict(ls_model, tx), ty))
            models[(v, sigma)] = (model, ls, est)
            mg.save(model.state_dict(), str(out / f"model_{v}_{sigma:g}.npz"))
        last = {v: results[v][-1] for v in ("readings", "moving_average", *VARIANTS)}
        _common.say(
            f"  noise {sigma:g}: RMSE readings {last['readings']:.4f}, moving average "
            f"{last['moving_average']:.4f}, centred {last['centred']:.4f}, causal "
            f"{last['causal']:.4f}"
        )
    results["seconds"] = time.perf_counter() - t0

    print(f"\nroot-mean-square error on 256 test paths (kernel {args.kernel_size} taps)")
    print(f"{'noise':>6} {'readings':>9} {'moving avg':>10} {'centred':>8} {'(lstsq)':>8} "
          f"{'causal':>8} {'(lstsq)':>8}")  # fmt: skip
    for i, sigma in enumerate(args.noise):
        print(
            f"{sigma:>6g} {results['readings'][i]:>9.4f} {results['moving_average'][i]:>10.4f} "
            f"{results['centred'][i]:>8.4f} {results['centred_least_squares'][i]:>8.4f} "
            f"{results['causal'][i]:>8.4f} {results['causal_least_squares'][i]:>8.4f}"
        )
    # the causal kernel at the middle noise level: a weighted average of past readings
    show = args.noise[len(args.noise) // 2]
    lags, w = models[("causal", show)][0].weights_by_lag()
    results["causal_kernel"] = {"noise": show, "lags": lags.tolist(), "weights": w.tolist()}
    print(
        f"causal kernel at noise {show:g}: weights sum to {w.sum():.3f}; "
        f"{int((w > 0).sum())} of {len(w)} positive; weight on the current reading "
        f"{w[lags == 0][0]:.3f}, mean lag {float((lags * w).sum() / w.sum()):.2f} steps"
    )
    print(f"{len(args.noise) * 2} kernels trained in {results['seconds']:.1f} s")
    save_kernels(out / "kernels.png", models, show)
    save_trajectory(
        out / "trajectory.png", test_truth[0], tx_for(test_truth, show, args), models, show
    )
    _common.save_curves(
        out / "error.png",
        {k: (args.noise, results[k]) for k in ("readings", "moving_average", *VARIANTS)},
        "estimation error against reading noise",
        xlabel="noise std of the readings",
        ylabel="RMSE against the true path",
    )
    C.save_json(out / "history.json", results)
    _common.say(f"wrote {', '.join(sorted(q.name for q in out.iterdir()))} to {out}/")
    results["models"] = models
    return results


def tx_for(test_truth, sigma, args):
    """The test readings of the shown noise level, drawn again from a fixed seed for the
    picture (the first test path)."""
    rng = np.random.default_rng([args.seed, 1])
    return test_truth[0] + rng.normal(0, sigma, test_truth.shape[1])


def save_kernels(path, models, sigma) -> None:
    fig = Figure(figsize=(9, 3.4), dpi=100)
    axes = fig.subplots(1, 2)
    for ax, v in zip(axes, VARIANTS):
        model, ls, _ = models[(v, sigma)]
        lags, w = model.weights_by_lag()
        ax.bar(lags, w, color="C0", label="learned")
        ax.plot(lags, ls, "k.", label="least squares")
        ax.axhline(0, color="0.5", linewidth=0.8)
        ax.set_xlabel("lag a (steps into the past; negative: the future)")
        ax.set_ylabel("w(a)")
        ax.set_title(f"{v} kernel, noise {sigma:g} (sum {w.sum():.2f})", fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    _common._write(fig, path)


def save_trajectory(path, truth, readings, models, sigma) -> None:
    fig = Figure(figsize=(9, 3.6), dpi=100)
    ax = fig.add_subplot()
    t = np.arange(len(truth))
    ax.plot(t, readings, ".", ms=3, color="0.6", label=f"readings (noise {sigma:g})")
    ax.plot(t, truth, "k", lw=1.5, label="true position")
    x = mg.tensor(readings[None, None].astype(np.float32))
    for v, colour in zip(VARIANTS, ("C0", "C3")):
        with mg.no_grad():
            est = models[(v, sigma)][0](x).numpy()[0, 0]
        ax.plot(t, est, colour, lw=1.2, label=f"{v} estimate")
    ax.set_xlabel("time step")
    ax.set_ylabel("position")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    fig.tight_layout()
    _common._write(fig, path)


if __name__ == "__main__":
    main()
