"""The autoencoder family, restricted Boltzmann machines, greedy layer-wise pre-training
(with autoencoders or RBMs), and the linear autoencoder vs PCA."""

from minigrad.models.autoencoders import (
    Autoencoder,
    ConvAutoencoder,
    DeepAutoencoder,
    DenoisingAutoencoder,
    SparseAutoencoder,
)
from minigrad.models.linear_pca import (
    linear_autoencoder_vs_pca,
    pca,
    principal_angles,
    train_linear_autoencoder,
)
from minigrad.models.pretrain import pretrain_layerwise
from minigrad.models.rbm import RBM, pretrain_rbm_stack, rbm_optimizer, train_rbm_epoch
from minigrad.models.training import fit

__all__ = [
    "Autoencoder",
    "ConvAutoencoder",
    "DeepAutoencoder",
    "DenoisingAutoencoder",
    "SparseAutoencoder",
    "pretrain_layerwise",
    "RBM",
    "pretrain_rbm_stack",
    "rbm_optimizer",
    "train_rbm_epoch",
    "fit",
    "pca",
    "principal_angles",
    "train_linear_autoencoder",
    "linear_autoencoder_vs_pca",
]
