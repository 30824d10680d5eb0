"""A linear autoencoder trained with MSE recovers PCA's subspace (Baldi and Hornik, 1989).

With h = W_e x and x_hat = W_d h on centred data, the minimum of E||x - W_d W_e x||^2 over
rank-k maps is reached when W_d spans the same subspace as the top-k principal directions
(the eigenvectors of the covariance with the largest eigenvalues), though not with the same
basis: the autoencoder is free to rotate and scale inside the subspace. So we compare the
subspaces by their principal angles, which ignore the basis.
"""

from __future__ import annotations

import numpy as np

import minigrad as mg

__all__ = ["pca", "principal_angles", "train_linear_autoencoder", "linear_autoencoder_vs_pca"]


def pca(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-k principal directions of the rows of x.

    Returns ``(components, mean, variances)``: components (k, D) orthonormal rows, sorted by
    decreasing explained variance; the mean (D,); the k variances (eigenvalues).
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if not 1 <= k <= min(x.shape):
        raise ValueError(f"k: expected 1 <= k <= {min(x.shape)}, got {k}")
    mean = x.mean(axis=0)
    # the right singular vectors of the centred data are the covariance's eigenvectors
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    return vt[:k], mean, s[:k] ** 2 / max(len(x) - 1, 1)


def principal_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Principal angles (radians, ascending) between the column spans of a and b.

    cos(theta_i) are the singular values of Q_a^T Q_b with Q orthonormal bases
    (Bjorck and Golub, 1973).
    """
    qa, _ = np.linalg.qr(np.asarray(a, dtype=np.float64))
    qb, _ = np.linalg.qr(np.asarray(b, dtype=np.float64))
    cos = np.linalg.svd(qa.T @ qb, compute_uv=False)  # descending
    # arccos alone loses accuracy near 0 (cos ~ 1 - theta^2 / 2), so pair each cosine with
    # the sine from the part of b's basis outside span(a), sorted the other way round
    sin = np.sort(np.linalg.svd(qb - qa @ (qa.T @ qb), compute_uv=False))[: len(cos)]
    return np.arctan2(sin, np.clip(cos, 0.0, 1.0))


def train_linear_autoencoder(
    x: np.ndarray,
    k: int,
    steps: int = 1000,
    lr: float = 0.1,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, list]:
    """Train x_hat = W_d (W_e x) on centred x (float64, full batch, Adam) with MSE.

    Returns ``(W_e (k, D), W_d (D, k), losses)``.
    """
    from minigrad import optim

    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    x = x - x.mean(axis=0)
    n, d = x.shape
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k: expected a positive integer (the code size), got {k!r}")
    rng = np.random.default_rng(seed)
    w_e = mg.tensor(rng.standard_normal((k, d)) / np.sqrt(d), requires_grad=True)
    w_d = mg.tensor(rng.standard_normal((d, k)) / np.sqrt(k), requires_grad=True)
    opt = optim.Adam([w_e, w_d], lr=lr)
    xt = mg.tensor(x)
    losses = []
    for step in range(steps):
        # a late decay of the step size lets Adam settle into the minimum
        for group in opt.param_groups:
            group["lr"] = lr * (0.01 ** (step / steps))
        x_hat = (xt @ w_e.T) @ w_d.T
        diff = x_hat - xt
        loss = (diff * diff).sum() / n
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return w_e.numpy(), w_d.numpy(), losses


def linear_autoencoder_vs_pca(
    x: np.ndarray, k: int, normalise: bool = True, **train_kwargs
) -> dict:
    """Train a linear autoencoder and compare its decoder's subspace with PCA's.

    ``normalise`` scales each feature to unit variance first (features with zero variance
    are left as they are), and PCA runs on the same normalised data. Returns a dict with
    the principal angles (radians), both reconstruction errors per example, and the weights.
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if normalise:
        std = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    components, mean, _ = pca(x, k)
    w_e, w_d, losses = train_linear_autoencoder(x, k, **train_kwargs)
    xc = x - mean
    pca_err = float(((xc - (xc @ components.T) @ components) ** 2).sum() / len(x))
    ae_err = float(((xc - (xc @ w_e.T) @ w_d.T) ** 2).sum() / len(x))
    return {
        "angles": principal_angles(components.T, w_d),
        "pca_error": pca_err,
        "ae_error": ae_err,
        "losses": losses,
        "components": components,
        "w_e": w_e,
        "w_d": w_d,
    }
