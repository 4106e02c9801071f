"""Measure grain statistics of a labelled volume: sizes, shapes, phase fractions.

These are the checks of ``docs/synth.md``: the equivalent-sphere diameters (ESD) and
their log-normal fit, the aspect ratios from the second moments of each grain's
voxels (unwrapped across periodic faces), and the seam test of periodic volumes.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..errors import InputError
from .tessellation import centroids


def _feature_ids(feature_ids: np.ndarray) -> np.ndarray:
    ids = np.asarray(feature_ids)
    if ids.ndim == 4 and ids.shape[-1] == 1:
        ids = ids[..., 0]
    if ids.ndim != 3 or ids.dtype.kind not in "iu":
        raise InputError(
            f"FeatureIds must be an integer (Z, Y, X) array, got {ids.dtype} {ids.shape}"
        )
    return ids


def touches_faces(feature_ids: np.ndarray) -> np.ndarray:
    """Which features have a voxel on a face of the box.

    Parameters
    ----------
    feature_ids : ndarray, shape (Z, Y, X) or (Z, Y, X, 1), int
        1-based feature ids (0 = none).

    Returns
    -------
    ndarray, shape (max_id + 1,), bool
    """
    ids = _feature_ids(feature_ids)
    out = np.zeros(int(ids.max()) + 1, dtype=bool)
    for axis in range(3):
        for index in (0, ids.shape[axis] - 1):
            out[np.take(ids, index, axis=axis).ravel()] = True
    return out


def equivalent_diameters(
    feature_ids: np.ndarray, spacing: float = 1.0, exclude_faces: bool = False
) -> np.ndarray:
    """Equivalent-sphere diameter of each feature.

    Parameters
    ----------
    feature_ids : ndarray, shape (Z, Y, X) or (Z, Y, X, 1), int
        1-based feature ids (0 = none).
    spacing : float
        Voxel edge length; the result is in its unit.
    exclude_faces : bool
        Leave out features cut by the box faces (for non-periodic volumes, where
        those grains are truncated).

    Returns
    -------
    ndarray, shape (n,), float64
        ESD ``(6 V / pi) ** (1/3)`` of every non-empty feature id >= 1 kept.
    """
    ids = _feature_ids(feature_ids)
    counts = np.bincount(ids.ravel()).astype(np.float64)
    keep = counts > 0
    keep[0] = False
    if exclude_faces:
        keep &= ~touches_faces(ids)
    return np.cbrt(6.0 * counts[keep] / math.pi) * spacing


def fit_lognormal(
    diameters: np.ndarray, lower: float | None = None, upper: float | None = None
) -> tuple[float, float]:
    """Maximum-likelihood log-normal fit of sizes, optionally truncated.

    Parameters
    ----------
    diameters : ndarray, shape (n,)
        Positive sizes.
    lower, upper : float, optional
        Truncation bounds of the distribution the sizes were drawn from (e.g. the
        ``d_min``/``d_max`` of :func:`~dream3d_sd_filters.synth.size_plan`, times the
        spacing). Sizes outside them are left out and the likelihood is that of the
        truncated log-normal. Without bounds this is the mean and standard deviation
        of ``ln d``.

    Returns
    -------
    mu, sigma : float
        Parameters of the untruncated ``ln d ~ N(mu, sigma)``.

    Raises
    ------
    InputError
        Fewer than 2 sizes inside the bounds.
    """
    from scipy.optimize import minimize
    from scipy.special import ndtr

    logs = np.log(np.asarray(diameters, dtype=np.float64))
    lo = -np.inf if lower is None else math.log(lower)
    hi = np.inf if upper is None else math.log(upper)
    logs = logs[(logs >= lo) & (logs <= hi)]
    if logs.size < 2:
        raise InputError(f"need at least 2 sizes to fit a log-normal, got {logs.size}")
    start = np.array([logs.mean(), math.log(max(logs.std(), 1e-6))])
    if lower is None and upper is None:
        return float(start[0]), float(logs.std())

    def negative_log_likelihood(theta: np.ndarray) -> float:
        mu, sigma = theta[0], math.exp(theta[1])
        z = (logs - mu) / sigma
        mass = ndtr((hi - mu) / sigma) - ndtr((lo - mu) / sigma)
        return float(0.5 * np.sum(z * z) + logs.size * (theta[1] + math.log(max(mass, 1e-300))))

    result = minimize(negative_log_likelihood, start, method="Nelder-Mead")
    return float(result.x[0]), float(math.exp(result.x[1]))


def aspect_ratios(
    feature_ids: np.ndarray, periodic: bool = True, min_voxels: int = 27
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aspect ratios b/a and c/a of each grain from the second moments of its voxels.

    The axes are the square roots of the eigenvalues of each grain's coordinate
    covariance (as DREAM.3D's "Compute Feature Shapes", which uses the inertia
    tensor), largest first. Periodic grains are unwrapped around their circular-mean
    centre, which is exact for grains shorter than half the box along every axis.

    Parameters
    ----------
    feature_ids : ndarray, shape (Z, Y, X) or (Z, Y, X, 1), int
        1-based feature ids.
    periodic : bool
        Unwrap grains across opposite faces.
    min_voxels : int
        Grains with fewer voxels are left out (their moments are dominated by voxel
        discreteness).

    Returns
    -------
    b_over_a, c_over_a : ndarray, shape (m,), float64
    principal_axes : ndarray, shape (m, 3, 3), float64
        Unit axis directions (x, y, z components) as rows: a, b, c.
    """
    ids = _feature_ids(feature_ids)
    nz, ny, nx = ids.shape
    n = int(ids.max()) + 1
    labels = ids.ravel().astype(np.int64)
    zz, yy, xx = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    points = np.stack([xx.ravel(), yy.ravel(), zz.ravel()], axis=1).astype(np.float64) + 0.5
    box = np.array([nx, ny, nz], dtype=np.float64)
    centre, count = centroids(labels, points, n, box, periodic)
    offset = points - centre[labels]
    if periodic:
        offset -= box * np.round(offset / box)
    safe = np.maximum(count, 1)
    covariance = np.empty((n, 3, 3))
    for i in range(3):
        for j in range(i, 3):
            moment = np.bincount(labels, offset[:, i] * offset[:, j], minlength=n) / safe
            covariance[:, i, j] = covariance[:, j, i] = moment
    keep = count >= max(int(min_voxels), 2)
    keep[0] = False
    values, vectors = np.linalg.eigh(covariance[keep])
    values = np.maximum(values[:, ::-1], 0.0)
    axes = np.sqrt(values)
    return axes[:, 1] / axes[:, 0], axes[:, 2] / axes[:, 0], np.swapaxes(vectors[:, :, ::-1], 1, 2)


def face_agreement(feature_ids: np.ndarray) -> tuple[float, float, float]:
    """Fraction of positions where opposite faces carry the same feature id, per axis.

    Parameters
    ----------
    feature_ids : ndarray, shape (Z, Y, X) or (Z, Y, X, 1), int

    Returns
    -------
    tuple of float
        ``(x, y, z)``: agreement of the faces ``x = 0`` and ``x = X - 1``, etc. A
        periodic volume has about ``1 - boundary density`` (most positions); a
        non-periodic one about 0.
    """
    ids = _feature_ids(feature_ids)
    out = []
    for axis in (2, 1, 0):
        first = np.take(ids, 0, axis=axis)
        last = np.take(ids, ids.shape[axis] - 1, axis=axis)
        out.append(float(np.mean(first == last)))
    return (out[0], out[1], out[2])


def connected_pieces(labels: np.ndarray, periodic: bool) -> tuple[np.ndarray, np.ndarray]:
    """Face-connected pieces of equally labelled voxels, periodic-aware.

    Parameters
    ----------
    labels : ndarray, shape (Z, Y, X), int
        Region label per voxel, >= 0.
    periodic : bool
        Voxels on opposite faces are neighbours.

    Returns
    -------
    pieces : ndarray, shape (Z*Y*X,), int64
        Piece index per voxel (flattened), ``0 .. m-1``.
    source : ndarray, shape (m,), int64
        Region label of each piece.
    """
    from skimage.measure import label as label_regions

    labels = np.asarray(labels)
    pieces = label_regions(labels + 1, background=0, connectivity=1).astype(np.int64) - 1
    n_pieces = int(pieces.max()) + 1
    flat = pieces.ravel()
    source = np.zeros(n_pieces, dtype=np.int64)
    source[flat] = labels.ravel()
    if not periodic:
        return flat, source
    # Pieces of the same region touching across a periodic face are one piece.
    rows, cols = [], []
    for axis in range(3):
        first = np.take(pieces, 0, axis=axis).ravel()
        last = np.take(pieces, labels.shape[axis] - 1, axis=axis).ravel()
        same = source[first] == source[last]
        rows.append(first[same])
        cols.append(last[same])
    row = np.concatenate(rows)
    col = np.concatenate(cols)
    graph = coo_matrix((np.ones(len(row)), (row, col)), shape=(n_pieces, n_pieces))
    n_pieces, merged = connected_components(graph, directed=False)
    flat = merged[flat].astype(np.int64)
    source = np.zeros(n_pieces, dtype=np.int64)
    source[flat] = labels.ravel()
    return flat, source


def pieces_per_feature(feature_ids: np.ndarray, periodic: bool = True) -> np.ndarray:
    """Number of face-connected pieces of each feature id (1 for a connected grain).

    Parameters
    ----------
    feature_ids : ndarray, shape (Z, Y, X) or (Z, Y, X, 1), int
    periodic : bool
        Voxels on opposite faces are neighbours.

    Returns
    -------
    ndarray, shape (max_id + 1,), int64
        Pieces per id; 0 for ids without voxels.
    """
    ids = _feature_ids(feature_ids)
    _, source = connected_pieces(ids, periodic)
    return np.bincount(source, minlength=int(ids.max()) + 1)
