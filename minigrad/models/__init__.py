"""The autoencoder family, greedy layer-wise pre-training, and the linear autoencoder vs PCA."""

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
from minigrad.models.training import fit

__all__ = [
    "Autoencoder",
    "ConvAutoencoder",
    "DeepAutoencoder",
    "DenoisingAutoencoder",
    "SparseAutoencoder",
    "pretrain_layerwise",
    "fit",
    "pca",
    "principal_angles",
    "train_linear_autoencoder",
    "linear_autoencoder_vs_pca",
]
