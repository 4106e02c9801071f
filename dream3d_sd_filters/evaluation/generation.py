"""Unconditional generation: are samples statistically like the training data? (Table 3, Fig. 8)

Generated samples are compared with training images, and so are held-out validation
images, which gives every distance its reference scale: a perfect generator is as
far from the training set as unseen real data is. Measured:

* the phase-2 volume fraction distribution, by the two-sample Kolmogorov-Smirnov
  distance (largest gap between the empirical CDFs);
* the radially averaged two-point correlation S2(r) of phase 2, by the mean absolute
  difference of the average curves over r = 0..L-1 pixels;
* the Fréchet distance and KID on the default VGG microstructure features
  (:class:`~dream3d_sd_filters.metrics.frechet.VGGMicrostructureFeatures`), for all
  896 features and separately for the orientation ("grain") and phase halves;
* the standard Inception FID for grain (orientation channels as RGB) and phase, when
  the user supplies the Inception weights.

The targets of the model issue: KS <= 0.1, S2 MAD <= 0.02, FD <= 2x the
validation-vs-train FD.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..metrics.descriptors import two_point_correlation, volume_fraction
from ..metrics.frechet import (
    VGGMicrostructureFeatures,
    extract_features,
    frechet_distance,
    inception_features,
    kernel_inception_distance,
)
from ..report import Section, Table
from .common import EvaluationResult, Stopwatch, check_count, progress_callback, save_figure
from .figures import curves_figure, histogram_figure, sample_grid_figure

#: Targets of the model issue: KS distance of the volume fractions, mean absolute
#: difference of the average S2 curves, and FD as a multiple of validation-vs-train.
TARGETS: dict[str, float] = {"volume_fraction_ks": 0.1, "s2_mad": 0.02, "fd_ratio": 2.0}

#: The paper's Table 3 Inception FIDs (50,048 samples); from the project specification,
#: unverified.
PAPER_FID: dict[str, float] = {"grain": 40.0, "phase": 46.0}

#: Column ranges of the orientation and phase halves of the VGG features.
FEATURE_GROUPS: dict[str, slice] = {
    "grain": slice(0, VGGMicrostructureFeatures.num_features // 2),
    "phase": slice(VGGMicrostructureFeatures.num_features // 2, None),
}

_FEATURE_BATCH = 50


def radial_average(maps: np.ndarray) -> np.ndarray:
    """Radial average of two-point correlation maps.

    Parameters
    ----------
    maps : ndarray, shape (..., 2L - 1, 2L - 1)
        S2 over shifts -(L-1)..L-1 in y and x, as from
        :func:`~dream3d_sd_filters.metrics.descriptors.two_point_correlation`.

    Returns
    -------
    ndarray, shape (..., L)
        Mean of the map over the shifts whose length rounds to r, for r = 0..L-1
        pixels (shifts longer than L - 1, in the corners, are left out).
    """
    size = maps.shape[-1]
    half = (size - 1) // 2
    offsets = np.arange(size) - half
    radius = np.rint(np.hypot(offsets[:, None], offsets[None, :])).astype(int)
    flat = maps.reshape(*maps.shape[:-2], -1)
    return np.stack(
        [flat[..., (radius == r).ravel()].mean(axis=-1) for r in range(half + 1)], axis=-1
    )


def image_features(
    images: np.ndarray, extractor: Any, desc: str, progress: bool = False
) -> np.ndarray:
    """Feature vectors of an image set in batches, with a progress bar.

    Parameters
    ----------
    images : ndarray, shape (N, 4, H, W)
    extractor : callable
        A feature extractor for :func:`~dream3d_sd_filters.metrics.frechet.extract_features`.
    desc : str
        Progress bar label.

    Returns
    -------
    ndarray, shape (N, D), float64
    """
    from tqdm.auto import tqdm

    starts = range(0, len(images), _FEATURE_BATCH)
    return np.concatenate(
        [
            extract_features(images[i : i + _FEATURE_BATCH], extractor, batch_size=_FEATURE_BATCH)
            for i in tqdm(starts, desc=desc, unit="batch", disable=not progress)
        ]
    )


def feature_distances(
    features: np.ndarray, reference: np.ndarray, seed: int = 0
) -> dict[str, float]:
    """Fréchet distances (all, grain and phase features) and KID between two feature sets.

    Parameters
    ----------
    features, reference : ndarray, shape (N, 896) and (M, 896)
        VGG microstructure features.

    Returns
    -------
    dict of float
        ``"fd"``, ``"fd_grain"``, ``"fd_phase"``, ``"kid"`` and ``"kid_std"`` (over
        subsets of up to 1,000 images).
    """
    kid, kid_std = kernel_inception_distance(features, reference, seed=seed)
    return {
        "fd": frechet_distance(features, reference),
        **{
            f"fd_{group}": frechet_distance(features[:, cols], reference[:, cols])
            for group, cols in FEATURE_GROUPS.items()
        },
        "kid": kid,
        "kid_std": kid_std,
    }


def inception_fids(
    images: np.ndarray, reference_features: dict[str, np.ndarray], inception: Any
) -> dict[str, float]:
    """Inception FID of images against precomputed reference features, grain and phase."""
    return {
        group: frechet_distance(inception_features(images, inception, group), features)
        for group, features in reference_features.items()
    }


def evaluate_generation(
    model: Any,
    train_images: np.ndarray,
    validation_images: np.ndarray,
    folder: Path,
    n_samples: int,
    steps: int = 25,
    seed: int = 0,
    batch_size: int = 16,
    sampler: str = "dpmsolver++",
    inception: Any = None,
    n_show: int = 16,
    progress: bool = False,
) -> EvaluationResult:
    """Generate samples and compare their statistics with the training data.

    Parameters
    ----------
    model : MicrostructureSD
    train_images : ndarray, shape (M, 4, H, W)
        The reference set (training images); samples are generated at H x W.
    validation_images : ndarray, shape (V, 4, H, W)
        Held-out images, compared with the same reference for the reference scale;
        use V = ``n_samples`` so that both distances have the same small-sample bias.
    folder : Path
        Where the figures are written.
    n_samples : int
    steps, seed, batch_size, sampler
        See :meth:`MicrostructureSD.generate`.
    inception : FIDInceptionV3, optional
        From :func:`~dream3d_sd_filters.metrics.frechet.load_fid_inception`; adds the
        standard Inception FID.
    n_show : int
        Samples drawn in the grid.
    progress : bool

    Returns
    -------
    EvaluationResult
        ``metrics["generated"]`` and ``metrics["validation"]`` (the reference scale)
        each hold ``volume_fraction_ks``, ``s2_mad``, ``fd``, ``fd_grain``,
        ``fd_phase``, ``kid``, ``kid_std`` (and ``inception_fid`` when given);
        ``metrics["targets"]`` says which issue targets are met.
    """
    from scipy.stats import ks_2samp

    n_samples = check_count(n_samples, "n_samples", 2)
    height, width = train_images.shape[-2:]
    watch = Stopwatch()
    with watch("model"):
        samples = model.generate(
            n_samples,
            size=(height, width),
            sampler=sampler,
            steps=steps,
            seed=seed,
            batch_size=batch_size,
            callback=progress_callback("generating", progress),
        )
    sets = {"generated": samples, "validation": validation_images, "train": train_images}
    limit_to = min(16, height // 2, width // 2)
    with watch("descriptors"):
        fractions = {name: volume_fraction(images)[:, 1] for name, images in sets.items()}
        s2 = {
            name: radial_average(two_point_correlation(images, limit_to)[:, 1])
            for name, images in sets.items()
        }
    with watch("features"):
        extractor = VGGMicrostructureFeatures()
        features = {
            name: image_features(images, extractor, f"VGG features ({name})", progress)
            for name, images in sets.items()
        }
    with watch("metrics"):
        results: dict[str, dict[str, Any]] = {}
        for name in ("generated", "validation"):
            results[name] = {
                "n_images": len(sets[name]),
                "volume_fraction_ks": float(
                    ks_2samp(fractions[name], fractions["train"]).statistic
                ),
                "s2_mad": float(np.abs(s2[name].mean(0) - s2["train"].mean(0)).mean()),
                **feature_distances(features[name], features["train"], seed),
            }
    if inception is not None:
        with watch("inception"):
            reference = {
                group: inception_features(train_images, inception, group)
                for group in ("grain", "phase")
            }
            for name in ("generated", "validation"):
                results[name]["inception_fid"] = inception_fids(sets[name], reference, inception)
    generated, validation = results["generated"], results["validation"]
    fd_ratio = generated["fd"] / validation["fd"] if validation["fd"] > 0 else float("inf")
    targets = {
        "volume_fraction_ks": {
            "value": generated["volume_fraction_ks"],
            "target": TARGETS["volume_fraction_ks"],
            "met": generated["volume_fraction_ks"] <= TARGETS["volume_fraction_ks"],
        },
        "s2_mad": {
            "value": generated["s2_mad"],
            "target": TARGETS["s2_mad"],
            "met": generated["s2_mad"] <= TARGETS["s2_mad"],
        },
        "fd_ratio": {
            "value": fd_ratio,
            "target": TARGETS["fd_ratio"],
            "met": fd_ratio <= TARGETS["fd_ratio"],
        },
    }
    with watch("figures"):
        figures = [
            (
                save_figure(sample_grid_figure(samples[:n_show]), folder, "generation_samples.png"),
                "Generated samples (Fig. 8a).",
            ),
            (
                save_figure(
                    histogram_figure(
                        {
                            f"train ({len(train_images)})": fractions["train"],
                            f"generated ({n_samples})": fractions["generated"],
                            f"validation ({len(validation_images)})": fractions["validation"],
                        },
                        "phase-2 area fraction",
                        f"Volume fractions (KS: generated {generated['volume_fraction_ks']:.3f}, "
                        f"validation {validation['volume_fraction_ks']:.3f})",
                    ),
                    folder,
                    "generation_volume_fractions.png",
                ),
                "Phase-2 volume fraction distributions against the training data (Fig. 8b).",
            ),
            (
                save_figure(
                    curves_figure(
                        np.arange(limit_to),
                        {
                            name: (curves.mean(0), curves.std(0))
                            for name, curves in (
                                ("train", s2["train"]),
                                ("generated", s2["generated"]),
                                ("validation", s2["validation"]),
                            )
                        },
                        "distance r (pixels)",
                        "S2(r), phase 2",
                        f"Radially averaged two-point correlation (MAD generated "
                        f"{generated['s2_mad']:.4f})",
                    ),
                    folder,
                    "generation_two_point_correlation.png",
                ),
                "Average two-point correlation curves, mean ± one standard deviation (Fig. 8c).",
            ),
        ]
    rows = [
        [
            label,
            r["volume_fraction_ks"],
            r["s2_mad"],
            r["fd"],
            r["fd_grain"],
            r["fd_phase"],
            r["kid"],
        ]
        for label, r in (("generated vs train", generated), ("validation vs train", validation))
    ]
    tables = [
        Table(
            "Distribution distances (VGG microstructure features)",
            ["", "KS volume fraction", "MAD S2", "FD", "FD grain", "FD phase", "KID"],
            rows,
        ),
        Table(
            "Targets of the model issue",
            ["measure", "value", "target", "met"],
            [
                [
                    "KS volume fraction ≤",
                    targets["volume_fraction_ks"]["value"],
                    0.1,
                    targets["volume_fraction_ks"]["met"],
                ],
                ["MAD S2 ≤", targets["s2_mad"]["value"], 0.02, targets["s2_mad"]["met"]],
                ["FD / FD(validation) ≤", fd_ratio, 2.0, targets["fd_ratio"]["met"]],
            ],
        ),
    ]
    if inception is not None:
        tables.append(
            Table(
                "Inception FID (Table 3)",
                ["", "FID grain", "FID phase"],
                [
                    ["generated vs train", *generated["inception_fid"].values()],
                    ["validation vs train", *validation["inception_fid"].values()],
                    ["paper (50,048 samples, unverified)", PAPER_FID["grain"], PAPER_FID["phase"]],
                ],
            )
        )
    section = Section(
        "Table 3: generation",
        text=[
            f"{n_samples} samples ({sampler}, {steps} steps) against {len(train_images)} training "
            f"images; {len(validation_images)} validation images give the reference scale. "
            "Fréchet distances on the VGG microstructure features are comparable only with each "
            "other, not with published FIDs; they are biased upwards for small sets, so compare "
            "the generated and validation rows (same set sizes)."
            + ("" if inception is not None else " Pass --inception-weights for the standard FID.")
        ],
        tables=tables,
        images=figures,
    )
    metrics = {
        "n_samples": n_samples,
        "n_train": len(train_images),
        "n_validation": len(validation_images),
        "sampler": sampler,
        "steps": steps,
        "descriptor_limit": limit_to,
        "generated": generated,
        "validation": validation,
        "targets": targets,
        "paper_inception_fid": PAPER_FID,
        "s2_curves": {name: curves.mean(0) for name, curves in s2.items()},
    }
    return EvaluationResult(metrics, [section], watch.seconds)
