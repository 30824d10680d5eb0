"""The autoencoder family of the lecture slides (Deep Learning book, ch. 14).

Every model is an ``nn.Module`` with

    encode(x)  -> h           the code
    decode(h)  -> x_hat       the reconstruction (flat for the fully connected models)
    forward(x) -> x_hat       shaped like x
    loss(x)    -> scalar      what training minimises (reconstruction + regularisers)

Fully connected models take images (B, 1, H, W) or vectors (B, D) and flatten them.

- ``Autoencoder``: undercomplete, h = f(W_e x + b), x_hat = g(W_d h + c). The decoder is
  'sigmoid' with cross-entropy (inputs in [0, 1], e.g. binary images) or 'linear' with MSE
  (real-valued inputs): the slides' pairing. Options: the L2 penalty lambda * ||W||^2 on the
  weight matrices (``weight_decay``) and tied weights W_d = W_e^T (``tied``).
- ``DenoisingAutoencoder``: trains on corrupted x~ (masking noise q or Gaussian sigma) to
  reconstruct the clean x.
- ``SparseAutoencoder``: sigmoid code, loss + beta * sum_l KL(rho || rho_hat_l).
- ``DeepAutoencoder``: any depth, e.g. 784-1000-500-250-30 (Hinton and Salakhutdinov, 2006),
  with greedy layer-wise pre-training.
- ``ConvAutoencoder``: strided convolutions down, transpose convolutions up (or the tied
  decoder that uses the encoder's kernels, R = h(K, H, s) in the book's notation).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn
from minigrad.data.transforms import gaussian_noise, masking_noise
from minigrad.tensor import unwrap

__all__ = [
    "Autoencoder",
    "DenoisingAutoencoder",
    "SparseAutoencoder",
    "DeepAutoencoder",
    "ConvAutoencoder",
]

_ACTIVATIONS = {
    "sigmoid": F.sigmoid,
    "relu": F.relu,
    "tanh": F.tanh,
    "linear": lambda t: t,
}


def _activation(name: str, arg: str = "activation"):
    """The non-linearity called ``name``; ValueError naming ``arg`` for an unknown one."""
    if name not in _ACTIVATIONS:
        raise ValueError(f"{arg}: expected one of {sorted(_ACTIVATIONS)}, got {name!r}")
    return _ACTIVATIONS[name]


def _as_tensor(x) -> mg.Tensor:
    return x if isinstance(x, mg.Tensor) else mg.tensor(np.asarray(x, dtype=np.float32))


class _Corruption:
    """The denoising criterion's corruption process C(x~ | x), applied only in training.

    noise: None, 'mask' (each component set to 0 with probability ``level`` = q) or
    'gaussian' (x + N(0, level^2)).
    """

    def __init__(self, noise: str | None, level: float, seed: int | None):
        if noise not in (None, "mask", "gaussian"):
            raise ValueError(f"noise: expected None, 'mask' or 'gaussian', got {noise!r}")
        if noise == "mask" and not 0 <= level <= 1:
            raise ValueError(f"noise_level: masking probability must be in [0, 1], got {level}")
        if noise == "gaussian" and level < 0:
            raise ValueError(f"noise_level: sigma must be >= 0, got {level}")
        self.noise, self.level = noise, level
        self.rng = np.random.default_rng(seed)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.noise == "mask":
            return masking_noise(x, self.level, self.rng)
        if self.noise == "gaussian":
            return gaussian_noise(x, self.level, self.rng)
        return np.asarray(x, dtype=np.float32)


class _ReconstructionLoss:
    """Cross-entropy (decoder 'sigmoid') or MSE (decoder 'linear' or any other), mean over
    the elements. Cross-entropy is computed from the decoder's pre-activation with the
    logits form, which stays finite when the sigmoid saturates."""

    def __init__(self, decoder: str, loss: str | None):
        self.kind = loss or ("bce" if decoder == "sigmoid" else "mse")
        if self.kind not in ("bce", "mse"):
            raise ValueError(f"loss: expected 'bce' or 'mse', got {loss!r}")
        if self.kind == "bce" and decoder != "sigmoid":
            raise ValueError("loss: cross-entropy needs the 'sigmoid' decoder")
        self.decoder = decoder

    def __call__(self, pre_activation: mg.Tensor, target: mg.Tensor) -> mg.Tensor:
        if self.kind == "bce":
            return F.binary_cross_entropy_with_logits(pre_activation, target)
        return F.mse_loss(_activation(self.decoder)(pre_activation), target)


class _AutoencoderBase(nn.Module):
    """Corruption, the reconstruction loss and the L2 penalty, shared by every model."""

    def _init_common(self, decoder, loss, weight_decay, noise, noise_level, seed):
        _activation(decoder, "decoder")
        self.decoder_activation = decoder
        self.recon_loss = _ReconstructionLoss(decoder, loss)
        self.weight_decay = float(weight_decay)
        self.corruption = _Corruption(noise, noise_level, seed)

    def corrupt(self, x, force: bool = False) -> np.ndarray:
        """x~ ~ C(x~ | x) in training mode (or when ``force``); x itself otherwise."""
        x = np.asarray(unwrap(x), dtype=np.float32)
        if self.training or force:
            return self.corruption(x)
        return x

    def penalty(self) -> mg.Tensor | None:
        """lambda * sum of squared weights (not biases): the slides' lambda * ||theta||^2."""
        if self.weight_decay == 0:
            return None
        weights = {id(p): p for name, p in self.named_parameters() if name.endswith("weight")}
        return F.l2_penalty(list(weights.values()), self.weight_decay)

    def forward(self, x) -> mg.Tensor:
        x = _as_tensor(x)
        return self.decode(self.encode(x)).reshape(x.shape)

    def loss(self, x) -> mg.Tensor:
        """Reconstruction loss of the clean x from the (possibly corrupted) input, plus
        the regularisers."""
        x_clean = _as_tensor(x)
        x_in = mg.tensor(self.corrupt(x_clean)) if self.corruption.noise else x_clean
        h = self.encode(x_in)
        pre = self.decode_preactivation(h)
        total = self.recon_loss(pre.reshape(x_clean.shape), x_clean)
        extra = self.code_penalty(h)
        if extra is not None:
            total = total + extra
        pen = self.penalty()
        if pen is not None:
            total = total + pen
        return total

    def code_penalty(self, h: mg.Tensor) -> mg.Tensor | None:
        return None

    def decode(self, h: mg.Tensor) -> mg.Tensor:
        return _activation(self.decoder_activation)(self.decode_preactivation(h))


class _StackedAutoencoder(_AutoencoderBase):
    """A model with ``encoder_layers`` and mirrored ``decoder_layers`` (nn.Sequential):
    the decoder applies ``activation`` after every layer but the last."""

    def decode_preactivation(self, h: mg.Tensor) -> mg.Tensor:
        layers = list(self.decoder_layers)
        for layer in layers[:-1]:
            h = _activation(self.activation)(layer(h))
        return layers[-1](h)

    def filters(self) -> np.ndarray:
        """The first encoder layer's weight: one input-space filter per output unit."""
        return list(self.encoder_layers)[0].weight.numpy()


class Autoencoder(_AutoencoderBase):
    """h = f(W_e x + b), x_hat = g(W_d h + c), W_d = W_e^T when ``tied``.

    Args:
        n_in, n_hidden: sizes (n_hidden < n_in makes it undercomplete).
        activation: f, the encoder's non-linearity ('sigmoid', 'relu', 'tanh', 'linear').
        decoder: g, 'sigmoid' (default loss cross-entropy) or 'linear' (default loss MSE).
        loss: 'bce' or 'mse' to override the default pairing.
        tied: use W_e^T as the decoder's weight (its gradient is the sum of both uses).
        weight_decay: lambda of the L2 penalty lambda * ||W||^2.
        noise, noise_level: corruption for denoising training (see DenoisingAutoencoder).
    """

    def __init__(
        self,
        n_in: int,
        n_hidden: int,
        activation: str = "sigmoid",
        decoder: str = "sigmoid",
        loss: str | None = None,
        tied: bool = False,
        weight_decay: float = 0.0,
        noise: str | None = None,
        noise_level: float = 0.0,
        seed: int | None = None,
    ):
        super().__init__()
        _activation(activation)
        self.n_in, self.n_hidden = n_in, n_hidden
        self.activation = activation
        self.tied = tied
        self.encoder = nn.Linear(n_in, n_hidden)
        self.decoder = nn.TiedLinear(self.encoder) if tied else nn.Linear(n_hidden, n_in)
        self._init_common(decoder, loss, weight_decay, noise, noise_level, seed)

    def encode(self, x) -> mg.Tensor:
        x = _as_tensor(x)
        return _activation(self.activation)(self.encoder(x.reshape(x.shape[0], -1)))

    def decode_preactivation(self, h: mg.Tensor) -> mg.Tensor:
        return self.decoder(h)

    def filters(self) -> np.ndarray:
        """The encoder's weight rows (n_hidden, n_in): one input-space filter per unit."""
        return self.encoder.weight.numpy()


class DenoisingAutoencoder(Autoencoder):
    """Autoencoder trained to reconstruct clean x from a corrupted x~.

    noise='mask' sets each input to 0 with probability noise_level = q (0.25 and 0.5 in the
    slides); noise='gaussian' adds N(0, noise_level^2). Corruption happens only in training
    mode; ``corrupt(x, force=True)`` shows it at evaluation time.
    """

    def __init__(
        self, n_in: int, n_hidden: int, noise: str = "mask", noise_level: float = 0.25, **kw
    ):
        super().__init__(n_in, n_hidden, noise=noise, noise_level=noise_level, **kw)


class SparseAutoencoder(Autoencoder):
    """Sigmoid code with the penalty beta * sum_l KL(rho || rho_hat_l), rho_hat_l the mean
    activation of hidden unit l over the batch: pushes each unit to fire rarely."""

    def __init__(self, n_in: int, n_hidden: int, rho: float = 0.05, beta: float = 1.0, **kw):
        kw.setdefault("activation", "sigmoid")
        if kw["activation"] != "sigmoid":
            raise ValueError("activation: the KL sparsity penalty needs a 'sigmoid' code")
        if not 0 < rho < 1:
            raise ValueError(f"rho: expected a target activation in (0, 1), got {rho}")
        super().__init__(n_in, n_hidden, **kw)
        self.rho, self.beta = rho, beta

    def code_penalty(self, h: mg.Tensor) -> mg.Tensor:
        return self.beta * F.kl_sparsity(h, self.rho)


class DeepAutoencoder(_StackedAutoencoder):
    """A stack of fully connected layers, mirrored: sizes [784, 1000, 500, 250, 30] gives
    784-1000-500-250-30-250-500-1000-784.

    Hidden layers use ``activation``; the code layer is linear (``code_activation``), as in
    Hinton and Salakhutdinov (2006); the output uses ``decoder`` ('sigmoid' + cross-entropy
    or 'linear' + MSE).
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str = "sigmoid",
        code_activation: str = "linear",
        decoder: str = "sigmoid",
        loss: str | None = None,
        weight_decay: float = 0.0,
        noise: str | None = None,
        noise_level: float = 0.0,
        seed: int | None = None,
    ):
        super().__init__()
        sizes = list(sizes)
        if len(sizes) < 2:
            raise ValueError(f"sizes: expected at least [n_in, n_code], got {sizes}")
        _activation(activation)
        _activation(code_activation)
        self.sizes = sizes
        self.activation, self.code_activation = activation, code_activation
        self.encoder_layers = nn.Sequential(
            *[nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        )
        rev = sizes[::-1]
        self.decoder_layers = nn.Sequential(*[nn.Linear(a, b) for a, b in zip(rev[:-1], rev[1:])])
        self._init_common(decoder, loss, weight_decay, noise, noise_level, seed)

    def encode(self, x) -> mg.Tensor:
        x = _as_tensor(x)
        h = x.reshape(x.shape[0], -1)
        layers = list(self.encoder_layers)
        for i, layer in enumerate(layers):
            last = i == len(layers) - 1
            h = _activation(self.code_activation if last else self.activation)(layer(h))
        return h

    def pretrain(self, x: np.ndarray, on_layer=None, **kwargs) -> list:
        """Greedy layer-wise pre-training of the encoder stack on x, each layer the encoder
        of a shallow autoencoder of the layer below; its shallow decoder initialises the
        mirrored decoder layer as soon as the layer is done (so a checkpoint of the model
        taken in ``on_layer(i, decoder)`` holds the progress; resume with
        ``start_layer=i + 1``). Returns per-layer loss histories. See
        ``pretrain_layerwise`` for the other keyword arguments."""
        from minigrad.models.pretrain import pretrain_layerwise

        enc = list(self.encoder_layers)
        dec = list(self.decoder_layers)
        acts = [self.activation] * (len(enc) - 1) + [self.code_activation]

        def done(i, shallow):
            target = dec[len(dec) - 1 - i]
            target.weight.data.copy_(shallow.weight.data)
            target.bias.data.copy_(shallow.bias.data)
            if on_layer is not None:
                on_layer(i, shallow)

        result = pretrain_layerwise(
            enc, x, mode="unsupervised", activations=acts, on_layer=done, **kwargs
        )
        return result["losses"]

    def init_from_rbms(self, rbms: Sequence) -> None:
        """Start from a greedily trained stack of RBMs (``pretrain_rbm_stack``), unrolled
        as in Hinton and Salakhutdinov (2006): encoder layer i gets RBM i's weight and
        hidden bias, the mirrored decoder layer its transposed weight and visible bias."""
        enc, dec = list(self.encoder_layers), list(self.decoder_layers)
        if len(rbms) != len(enc):
            raise ValueError(f"rbms: expected {len(enc)} RBMs (one per layer), got {len(rbms)}")
        for i, (rbm, layer) in enumerate(zip(rbms, enc)):
            if tuple(rbm.weight.shape) != tuple(layer.weight.shape):
                raise ValueError(
                    f"rbms[{i}]: weight {tuple(rbm.weight.shape)} does not fit encoder layer "
                    f"{i}, {tuple(layer.weight.shape)}"
                )
            mirror = dec[len(dec) - 1 - i]
            layer.weight.data.copy_(rbm.weight.data)
            layer.bias.data.copy_(rbm.hidden_bias.data)
            mirror.weight.data.copy_(rbm.weight.data.T)
            mirror.bias.data.copy_(rbm.visible_bias.data)


class ConvAutoencoder(_StackedAutoencoder):
    """Convolutional encoder (3x3 stride-2 convolutions, each halving H and W) and a
    transpose-convolution decoder that doubles them back.

    ``tied=True`` makes each decoder layer the transpose of its encoder layer with the same
    kernel (the book's R = h(K, H, s)), with only its own bias. Input sides must be
    divisible by 2 ** len(channels) (28 -> 14 -> 7 and 8 -> 4 -> 2 with two layers).
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: Sequence[int] = (16, 32),
        kernel_size: int = 3,
        activation: str = "relu",
        decoder: str = "sigmoid",
        loss: str | None = "mse",
        tied: bool = False,
        weight_decay: float = 0.0,
        noise: str | None = None,
        noise_level: float = 0.0,
        seed: int | None = None,
    ):
        super().__init__()
        _activation(activation)
        channels = list(channels)
        if not channels:
            raise ValueError("channels: expected at least one encoder layer, got []")
        odd = isinstance(kernel_size, (int, np.integer)) and kernel_size % 2 == 1
        if not odd or kernel_size < 1:
            raise ValueError(
                f"kernel_size: expected a positive odd integer (stride 2 and padding "
                f"kernel_size // 2 halve H and W), got {kernel_size!r}"
            )
        self.activation, self.tied = activation, tied
        chans = [in_channels, *channels]
        pad = kernel_size // 2
        enc = [
            nn.Conv2d(a, b, kernel_size, stride=2, padding=pad)
            for a, b in zip(chans[:-1], chans[1:])
        ]
        if tied:
            dec = [nn.TiedConvTranspose2d(conv, output_padding=1) for conv in reversed(enc)]
        else:
            rev = chans[::-1]
            dec = [
                nn.ConvTranspose2d(a, b, kernel_size, stride=2, padding=pad, output_padding=1)
                for a, b in zip(rev[:-1], rev[1:])
            ]
        self.encoder_layers = nn.Sequential(*enc)
        self.decoder_layers = nn.Sequential(*dec)
        self._init_common(decoder, loss, weight_decay, noise, noise_level, seed)

    def encode(self, x) -> mg.Tensor:
        h = _as_tensor(x)
        factor = 2 ** len(self.encoder_layers)
        if h.ndim != 4 or h.shape[2] % factor or h.shape[3] % factor:
            raise ValueError(
                f"x: expected images (N, C, H, W) with H and W divisible by {factor}, "
                f"got shape {tuple(h.shape)}"
            )
        for layer in self.encoder_layers:
            h = _activation(self.activation)(layer(h))
        return h
