"""Shared fixtures: a small two-phase volume and the real DREAM3D files."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dream3d_sd_filters.volume import LAUE_IDS, Volume, ensemble_arrays

REPO = Path(__file__).resolve().parents[1]
FIXTURES_DIR = REPO.parent / "shared" / "fixtures" / "dream3d"


def _has_paraview() -> bool:
    # With tests/ on sys.path, tests/paraview itself is a namespace package "paraview"
    # (origin None); only a real ParaView has an __init__.py.
    spec = importlib.util.find_spec("paraview")
    return spec is not None and spec.origin is not None


# tests/paraview needs Debian's ParaView and runs in its own venv (make test-paraview);
# a venv that cannot import paraview does not collect it.
collect_ignore = [] if _has_paraview() else ["paraview"]


def accelerate_launch_cpu(
    module: str, *args: str, timeout: int, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m module args`` under ``accelerate launch`` as 2 CPU processes (gloo).

    Skips the test when accelerate's launcher is not installed beside this Python.
    """
    launcher = Path(sys.executable).with_name("accelerate")
    if not launcher.exists():
        pytest.skip("accelerate's launcher is not installed")
    command = [
        str(launcher), "launch", "--cpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "-m", module, *args,
    ]  # fmt: skip
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def make_small_volume(dims: tuple[int, int, int] = (6, 5, 4), seed: int = 0) -> Volume:
    """A two-phase (cubic + hexagonal) volume of 2x2x2-voxel grains.

    Cell arrays: FeatureIds int32, Phases int32 (1 or 2), EulerAngles float32 radians
    (one orientation per grain), IPFColors uint8 (one colour per grain). Ensemble:
    CrystalStructures [999, Cubic_High, Hexagonal_High], PhaseTypes Primary, names.
    Feature arrays: Phases and AvgEulerAngles. Non-trivial spacing, origin and unit.
    """
    rng = np.random.default_rng(seed)
    x, y, z = dims
    zz, yy, xx = np.meshgrid(np.arange(z), np.arange(y), np.arange(x), indexing="ij")
    blocks = (zz // 2) * ((y + 1) // 2) * ((x + 1) // 2) + (yy // 2) * ((x + 1) // 2) + xx // 2
    feature_ids = (blocks + 1).astype(np.int32)
    n_features = int(feature_ids.max())
    feature_phase = np.concatenate([[0], 1 + np.arange(n_features) % 2]).astype(np.int32)
    feature_euler = np.zeros((n_features + 1, 3), dtype=np.float32)
    feature_euler[1:] = rng.uniform(0, 1, (n_features, 3)) * np.array([2 * np.pi, np.pi, 2 * np.pi])
    feature_colour = rng.integers(0, 256, (n_features + 1, 3)).astype(np.uint8)
    return Volume(
        dims=dims,
        spacing=(0.5, 0.25, 2.0),
        origin=(1.0, -2.0, 0.125),
        length_unit="Nanometer",
        cell_data={
            "FeatureIds": feature_ids[..., None],
            "Phases": feature_phase[feature_ids][..., None],
            "EulerAngles": feature_euler[feature_ids],
            "IPFColors": feature_colour[feature_ids],
        },
        feature_data={"Phases": feature_phase[:, None], "AvgEulerAngles": feature_euler},
        ensemble_data=ensemble_arrays([LAUE_IDS["Cubic_High"], LAUE_IDS["Hexagonal_High"]]),
        phase_names=["Invalid Phase", "Ferrite", "Alpha-Ti"],
        name="SmallVolume",
    )


@pytest.fixture
def small_volume() -> Volume:
    """A 6 x 5 x 4 two-phase volume; see :func:`make_small_volume`."""
    return make_small_volume()


@pytest.fixture
def fixtures_dir() -> Path:
    """``<repo>/../shared/fixtures/dream3d``: real files written by DREAM.3D / simplnx."""
    if not FIXTURES_DIR.is_dir():
        pytest.skip(f"real DREAM3D fixtures not found at {FIXTURES_DIR}")
    return FIXTURES_DIR


def file_digest(path: Path) -> str:
    """SHA-256 of a file, to show inputs are never modified."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def untrained_model_dir(tmp_path_factory) -> Path:
    """A small, freshly initialised pipeline folder (real architecture, random weights).

    Tests of plumbing (shapes, geometry, masks, errors, adapters) use it because it is
    fast; the quality of the bundled weights is measured by `sd-filters evaluate`.
    """
    from dream3d_sd_filters.models import AutoencoderSettings, UNetSettings
    from dream3d_sd_filters.pipelines import MicrostructureSD

    model = MicrostructureSD.from_settings(
        AutoencoderSettings(block_out_channels=(32, 32, 32), sample_size=32),
        UNetSettings(block_out_channels=(32, 32, 32), sample_size=8, layers_per_block=1),
    )
    return model.save_pretrained(tmp_path_factory.mktemp("models") / "untrained")


@pytest.fixture
def untrained_model(untrained_model_dir):
    """The pipeline of :func:`untrained_model_dir`, loaded."""
    from dream3d_sd_filters.pipelines import MicrostructureSD

    return MicrostructureSD.from_pretrained(untrained_model_dir)


@pytest.fixture(scope="session")
def orientation_model_dir(untrained_model_dir, tmp_path_factory) -> Path:
    """:func:`untrained_model_dir` plus an untrained orientation ControlNet (plumbing tests
    of SD Predict Grain Orientations)."""
    from dream3d_sd_filters.models.controlnet import build_controlnet
    from dream3d_sd_filters.pipelines import MicrostructureSD

    base = MicrostructureSD.from_pretrained(untrained_model_dir)
    control = build_controlnet(base.unet, "orientation", base.downsampling, padding=base.padding)
    card = {**base.card, "controlnets": {"orientation": {}}}
    model = MicrostructureSD(
        base.vae, base.unet, base.scheduler_config, card, controlnets={"orientation": control}
    )
    return model.save_pretrained(tmp_path_factory.mktemp("models") / "orientation")


def label_phase2_fractions(dataset):
    """Label every training image with its phase-2 fraction, an exact, cheap property to
    learn; returns the split and the fractions."""
    from dream3d_sd_filters.data.dataset import load_split
    from dream3d_sd_filters.data.labels import append_labels

    train = load_split(dataset, "train")
    fractions = (train.images[:, 0] > 0).mean(axis=(1, 2))
    append_labels(
        dataset,
        "phase2_fraction",
        [(v, r, f, "1", "computed") for v, r, f in zip(train.volume_ids, train.rows, fractions)],
    )
    return train, fractions
