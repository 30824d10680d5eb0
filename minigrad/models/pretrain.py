"""Greedy layer-wise pre-training (the slides on layer-wise pre-training; Bengio et al.,
2007; Hinton and Salakhutdinov, 2006).

Each layer of a stack is trained on its own, on the output of the layers below it, which
are already trained and now frozen:

- unsupervised: the layer is the encoder of a shallow autoencoder, h = f(W x + b),
  x_hat = V h + c, trained to reconstruct its input (cross-entropy when the input lies in
  [0, 1] as pixels do, MSE for real-valued codes);
- supervised: the layer is the hidden layer of a depth-two classifier, softmax(U f(W x + b)),
  trained with cross-entropy on the labels.

Afterwards the whole stack is fine-tuned with back-propagation (``fit`` on the full model).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import minigrad as mg
import minigrad.functional as F
from minigrad import nn
from minigrad.models.autoencoders import _activation
from minigrad.models.training import fit

__all__ = ["pretrain_layerwise"]


def pretrain_layerwise(
    layers: Sequence,
    data: np.ndarray,
    mode: str = "unsupervised",
    targets: np.ndarray | None = None,
    n_classes: int | None = None,
    activations: Sequence[str] | None = None,
    epochs: int = 1,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int | None = 0,
    max_steps: int | None = None,
    start_layer: int = 0,
    on_layer=None,
    on_step=None,
) -> dict:
    """Pre-train ``layers`` (nn.Linear, in order from the input) greedily, in place.

    Args:
        data: inputs (N, D) or images (N, 1, H, W), float.
        mode: 'unsupervised' (shallow autoencoders) or 'supervised' (needs ``targets``,
            int labels (N,), and trains a depth-two classifier per layer).
        activations: each layer's non-linearity (default 'sigmoid' for all).
        start_layer: layers below it are taken as already trained (a resumed run): only
            their outputs are computed.
        on_layer: ``on_layer(i, top)`` after layer i is trained, ``top`` its shallow
            decoder or classifier head (a caller saves its progress there).
        on_step: ``on_step(i, step, total_steps, loss)`` after every step of layer i.
    Returns:
        {'decoders': the shallow decoders (unsupervised) or [], 'heads': the classifier
        heads (supervised) or [], 'losses': one list of step losses per layer,
        'codes': the top layer's output on ``data``}.
    """
    if mode not in ("unsupervised", "supervised"):
        raise ValueError(f"mode: expected 'unsupervised' or 'supervised', got {mode!r}")
    layers = list(layers)
    x = np.asarray(data, dtype=np.float32).reshape(len(data), -1)
    activations = list(activations or ["sigmoid"] * len(layers))
    if len(activations) != len(layers):
        raise ValueError(f"activations: expected {len(layers)} names, got {len(activations)}")
    acts = [_activation(name, f"activations[{i}]") for i, name in enumerate(activations)]
    if mode == "supervised":
        if targets is None:
            raise ValueError("targets: supervised pre-training needs the labels")
        targets = np.asarray(targets, dtype=np.int64)
        if targets.shape != (len(x),):
            raise ValueError(f"targets: expected shape ({len(x)},), got {targets.shape}")
        n_classes = int(n_classes or targets.max() + 1)
    decoders, heads, all_losses = [], [], []
    for i, (layer, act) in enumerate(zip(layers, acts)):
        if layer.weight.shape[1] != x.shape[1]:
            raise ValueError(
                f"layers[{i}]: expects {layer.weight.shape[1]} inputs, gets {x.shape[1]}"
            )
        n_out = layer.weight.shape[0]
        inputs_are_unit = bool(x.min() >= 0 and x.max() <= 1)
        if mode == "unsupervised":
            top = nn.Linear(n_out, x.shape[1])
            decoders.append(top)

            def loss_fn(idx, layer=layer, act=act, top=top, unit=inputs_are_unit, x=x):
                xb = mg.tensor(x[idx])
                pre = top(act(layer(xb)))
                if unit:
                    return F.binary_cross_entropy_with_logits(pre, xb)
                return F.mse_loss(pre, xb)
        else:
            top = nn.Linear(n_out, n_classes)
            heads.append(top)

            def loss_fn(idx, layer=layer, act=act, top=top, x=x):
                return F.cross_entropy(top(act(layer(mg.tensor(x[idx])))), mg.tensor(targets[idx]))

        if i >= start_layer:
            params = list(layer.parameters()) + list(top.parameters())
            step_cb = None if on_step is None else (lambda s, t, v, i=i: on_step(i, s, t, v))
            all_losses.append(
                fit(
                    loss_fn,
                    params,
                    len(x),
                    epochs,
                    batch_size,
                    lr,
                    seed,
                    max_steps=max_steps,
                    on_step=step_cb,
                )
            )
            if on_layer is not None:
                on_layer(i, top)
        else:
            all_losses.append([])
        with mg.no_grad():  # the next layer trains on this layer's (frozen) output
            x = np.concatenate(
                [act(layer(mg.tensor(x[j : j + 1000]))).numpy() for j in range(0, len(x), 1000)]
            ).astype(np.float32)
    return {"decoders": decoders, "heads": heads, "losses": all_losses, "codes": x}
