"""Micromagnetic coercivity of a two-phase polycrystalline thin film (magnum.np).

Model (details, sources and validation numbers in ``docs/coercivity.md``):

* One finite-difference cell per pixel, cubic cells of ``cell_size_nm``; the film
  is ``thickness_cells`` cells thick, every layer a copy of the image. Pixel
  ``[y, x]`` is the cell at sample coordinates ``(x, y)``; sample z is the film
  normal.
* Energy terms: demagnetization (FFT convolution with Newell's kernel), exchange
  (optionally scaled on links across grain boundaries), first-order uniaxial
  anisotropy per phase along each pixel's easy axis, and the applied field.
* Easy axis: crystal ``[001]``, i.e. the c-axis ``[0001]`` of hexagonal (and
  trigonal, tetragonal) phases, in sample coordinates. With passive Bunge
  orientations ``v_crystal = g @ v_sample`` that is row 3 of ``g``. Cubic phases
  have no unique axis; they are modelled as uniaxial along ``[001]`` as well.
* Boundaries: periodic in-plane by default (magnum.np's pseudo-periodic demag
  kernel with :data:`PBC_IMAGES` image copies on each side; exchange wraps
  around), open along the film normal. The training images are periodic.
* Sweep: saturated along the applied-field direction (the field tilted by
  ``field_tilt_deg`` from ``field_direction`` to break the symmetry of aligned
  grains), the field is stepped from 0 towards ``-max_field_tesla`` with adaptive
  steps, relaxing with magnum.np's ``MinimizerBB`` at each step. ``mu0 Hc`` is the
  field at which ``<m . h>`` crosses zero, interpolated linearly.

magnum.np sets torch's global default dtype and device when imported, so every
simulation runs in a worker subprocess (:mod:`._magnum_worker`); this module never
imports it. Results are cached as small JSON files keyed by a hash of the inputs,
every parameter and :data:`MODEL_VERSION`.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import queue
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..io.atomic import atomic_output
from ..orientations import check_radians, euler_to_matrix, segment_features
from ..volume import LAUE_IDS, LAUE_NAMES

#: Default cell edge in nm, one cell per pixel: the scale of the bundled labels and
#: surrogate, and so the pixel size of every design made for a coercivity target.
CELL_SIZE_NM = 1.0
#: Vacuum permeability in T m / A (the value magnum.np uses).
MU_0 = 1.2566370614e-6
#: Part of every cache key; bump it when the physics or the sweep changes.
MODEL_VERSION = "thin-film-magnumnp-1"
#: Environment variable that overrides the default result cache directory.
CACHE_ENV = "DREAM3D_SD_COERCIVITY_CACHE"
#: Default cache root; results go to ``coercivity/``, the inductor cache to ``inductor/``.
CACHE_ROOT = Path.home() / ".cache" / "dream3d_sd_filters"
#: Image copies on each side in magnum.np's pseudo-periodic demag kernel. Two give
#: a film demag factor N_zz = 0.997 (1 for an infinite film) on 64 x 64 cells.
PBC_IMAGES = 2
#: Coarse field step, and the resolution to which zero crossings and fast drops of
#: <m.h> are bisected, as fractions of the maximum field (3, 0.094 and 0.75 T when
#: SmCo5 is present). Each bisection step near an event costs a full reversal.
COARSE_FRACTION = 1 / 16
RESOLUTION_FRACTION = 1 / 512
DROP_RESOLUTION_FRACTION = 1 / 64
#: Default maximum field, as a multiple of the largest anisotropy field 2 K1 / Ms.
MAX_FIELD_FACTOR = 1.2
#: A trial step whose <m.h> drops by more than this is refined like a zero crossing.
MAX_DROP = 0.25
#: MinimizerBB stops when max |m x (m x h_eff)| falls below this (A/m, ~0.13 mT).
DM_TOLERANCE = 1e2
MAX_ITERATIONS = 2000
#: Misorientation (degrees) that separates grains when no FeatureIds are given.
SEGMENT_THRESHOLD_DEG = 5.0
_WORKER_MODULE = "dream3d_sd_filters.properties._magnum_worker"


class SimulationError(RuntimeError):
    """The micromagnetic worker failed, crashed or ran out of time."""


@dataclass(frozen=True)
class Material:
    """Intrinsic magnetic parameters of one phase, in SI units.

    Parameters
    ----------
    ms : float
        Saturation magnetization Ms in A/m (``mu0 Ms`` in tesla divided by ``mu0``).
    k1 : float
        First uniaxial anisotropy constant K1 in J/m^3.
    a : float
        Exchange stiffness A in J/m.
    name : str
        Label for reports; not part of the physics.
    """

    ms: float
    k1: float
    a: float
    name: str = ""

    @property
    def anisotropy_field_tesla(self) -> float:
        """``mu0 H_A = 2 K1 / Ms`` in tesla."""
        return 2.0 * self.k1 / self.ms


#: SmCo5 (CaCu5-type, hexagonal): mu0 Ms = 1.08 T, K1 = 17.2 MJ/m^3, A = 12 pJ/m.
#: Room-temperature textbook values: J. M. D. Coey, *Magnetism and Magnetic Materials*
#: (Cambridge University Press, 2010), hard-magnet tables; R. Skomski and J. M. D. Coey,
#: *Permanent Magnetism* (IOP, 1999). Literature A spans ~12-24 pJ/m. mu0 H_A = 40 T.
SMCO5 = Material(ms=1.08 / MU_0, k1=17.2e6, a=12e-12, name="SmCo5")
#: Sm2Co17 (Th2Zn17-type, rhombohedral, c-axis easy): mu0 Ms = 1.25 T (Ms = 0.995 MA/m,
#: not 1.25e6 A/m), K1 = 3.3 MJ/m^3, A = 16 pJ/m; same sources (K1 3.3-4.2 MJ/m^3,
#: mu0 Ms 1.22-1.25 T, A ~14-24 pJ/m quoted). mu0 H_A = 6.6 T: the softer phase here.
SM2CO17 = Material(ms=1.25 / MU_0, k1=3.3e6, a=16e-12, name="Sm2Co17")
#: Phase id -> material when ``materials`` is None.
DEFAULT_MATERIALS: dict[int, Material] = {1: SMCO5, 2: SM2CO17}


@dataclass(frozen=True)
class CoercivityResult:
    """Outcome of one coercivity simulation.

    Attributes
    ----------
    coercive_field_tesla : float
        ``mu0 Hc`` in tesla (positive): where ``<m . h>`` crosses zero on the
        descending branch. NaN if it had not crossed at ``max_field_tesla``.
    fields_tesla : ndarray, shape (n,), float64
        Accepted applied fields ``mu0 H`` along the field direction, 0 then negative.
    m_along_field : ndarray, shape (n,), float64
        Relaxed ``<m . h>`` at each accepted field (1 = saturated along the field).
    field_steps : int
        Accepted field steps (``n - 1``).
    minimizations : int
        Energy minimizations, rejected trial steps included.
    unconverged : int
        Minimizations that stopped at the iteration limit.
    max_field_tesla : float
        End of the sweep.
    runtime_seconds : float
        Wall time of the simulation that produced the result (worker start
        included); for a cached result, that of the original run.
    cached : bool
        True when the result came from the cache and no simulation ran.
    key : str
        Cache key (SHA-256 hex digest of inputs, parameters and model version).
    """

    coercive_field_tesla: float
    fields_tesla: np.ndarray
    m_along_field: np.ndarray
    field_steps: int
    minimizations: int
    unconverged: int
    max_field_tesla: float
    runtime_seconds: float
    cached: bool
    key: str


@dataclass(frozen=True)
class _Job:
    """A validated coercivity problem: inputs, settings and cache key."""

    phases: np.ndarray
    euler: np.ndarray
    grains: np.ndarray | None  # (H, W) grain ids when the exchange is scaled, else None
    materials: dict[int, Material]
    settings: dict[str, Any]
    key: str


def _check_materials(materials: Mapping[int, Material] | None, present: np.ndarray):
    if materials is None:
        materials = DEFAULT_MATERIALS
    if not isinstance(materials, Mapping):
        raise InputError(
            f"materials must map phase ids to Material(ms, k1, a), got {type(materials).__name__}"
        )
    checked: dict[int, Material] = {}
    for phase in present.tolist():
        material = materials.get(phase)
        if not isinstance(material, Material):
            raise InputError(
                f"materials has no Material for phase {phase} "
                f"(got {type(material).__name__}); give Material(ms, k1, a) for every phase"
            )
        for label, value, allow_zero in (
            ("ms", material.ms, False),
            ("k1", material.k1, True),
            ("a", material.a, False),
        ):
            if not (math.isfinite(value) and (value > 0 or (allow_zero and value == 0))):
                raise InputError(f"material of phase {phase} has invalid {label} = {value}")
        checked[phase] = material
    return checked


def _number(name: str, value: Any, *, high: float | None = None) -> float:
    """``value`` as a float: positive, or in ``[0, high]`` when ``high`` is given."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if high is None and not (math.isfinite(number) and number > 0):
        raise InputError(f"{name} must be a positive number, got {value}")
    if high is not None and not 0 <= number <= high:
        raise InputError(f"{name} must be in [0, {high:g}], got {value}")
    return number


def _check_device(device: str) -> str:
    if device == "cpu" or re.fullmatch(r"cuda(:\d+)?", str(device)):
        return str(device)
    raise InputError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def _prepare(
    phases: np.ndarray,
    euler: np.ndarray,
    crystal_structures: Sequence[int] | np.ndarray,
    *,
    feature_ids: np.ndarray | None = None,
    cell_size_nm: float = CELL_SIZE_NM,
    thickness_cells: int = 1,
    materials: Mapping[int, Material] | None = None,
    field_direction: Sequence[float] = (0.0, 0.0, 1.0),
    field_tilt_deg: float = 1.0,
    exchange_scaling_across_boundaries: float = 1.0,
    periodic: bool = True,
    max_field_tesla: float | None = None,
) -> _Job:
    """Validate one problem and compute its cache key; raises InputError."""
    phases = np.asarray(phases)
    euler = np.asarray(euler)
    if phases.ndim != 2 or min(phases.shape) < 2:
        raise InputError(
            f"phases must be a 2D (H, W) array with H, W >= 2, got shape {phases.shape}"
        )
    if phases.dtype.kind not in "iu":
        raise InputError(f"phases must be integers 1 or 2, got dtype {phases.dtype}")
    if euler.shape != phases.shape + (3,):
        raise InputError(
            f"euler must have shape (H, W, 3) = {phases.shape + (3,)} to match phases, "
            f"got {euler.shape}"
        )
    if euler.dtype.kind != "f":
        raise InputError(f"euler must be float radians, got dtype {euler.dtype}")
    check_radians(euler, "euler")
    present = np.unique(phases)
    if not set(present.tolist()) <= {1, 2}:
        bad = sorted(set(present.tolist()) - {1, 2})
        raise InputError(f"phases must be 1 or 2, found {bad}")

    structures = np.asarray(crystal_structures)
    if structures.ndim != 1 or structures.dtype.kind not in "iu":
        raise InputError(
            "crystal_structures must be a 1D integer array of DREAM3D Laue ids with "
            f"entry 0 reserved, got shape {structures.shape} dtype {structures.dtype}"
        )
    if len(structures) <= int(present.max()):
        raise InputError(
            f"crystal_structures has {len(structures)} entries; phase {int(present.max())} "
            "needs one at that index (entry 0 is reserved)"
        )
    for phase in present.tolist():
        laue = int(structures[phase])
        if laue not in LAUE_NAMES or laue == LAUE_IDS["Unknown"]:
            raise InputError(f"crystal structure of phase {phase} is unknown (Laue id {laue})")

    if feature_ids is not None:
        feature_ids = np.asarray(feature_ids)
        if feature_ids.shape == phases.shape + (1,):
            feature_ids = feature_ids[..., 0]
        if feature_ids.shape != phases.shape or feature_ids.dtype.kind not in "iu":
            raise InputError(
                f"feature_ids must be an integer array of shape {phases.shape}, got "
                f"shape {feature_ids.shape} dtype {feature_ids.dtype}"
            )
        feature_ids = feature_ids.astype(np.int64)

    cell_size_nm = _number("cell_size_nm", cell_size_nm)
    if isinstance(thickness_cells, bool) or not isinstance(thickness_cells, (int, np.integer)):
        raise InputError(f"thickness_cells must be a positive integer, got {thickness_cells!r}")
    if thickness_cells < 1:
        raise InputError(f"thickness_cells must be a positive integer, got {thickness_cells}")
    try:
        direction = np.asarray(field_direction, dtype=np.float64)
    except (TypeError, ValueError):
        direction = np.zeros(0)
    if direction.shape != (3,) or not np.all(np.isfinite(direction)):
        raise InputError(f"field_direction must be 3 finite numbers, got {field_direction}")
    if np.linalg.norm(direction) == 0:
        raise InputError("field_direction must not be the zero vector")
    field_tilt_deg = _number("field_tilt_deg", field_tilt_deg, high=45)
    scaling = _number(
        "exchange_scaling_across_boundaries", exchange_scaling_across_boundaries, high=1
    )
    checked_materials = _check_materials(materials, present)
    if max_field_tesla is None:
        max_field = MAX_FIELD_FACTOR * max(
            m.anisotropy_field_tesla for m in checked_materials.values()
        )
        if max_field <= 0:
            raise InputError("all materials have k1 = 0; give max_field_tesla explicitly")
    else:
        max_field = _number("max_field_tesla", max_field_tesla)

    settings = {
        "cell_size_nm": float(cell_size_nm),
        "thickness_cells": int(thickness_cells),
        "field_direction": (direction / np.linalg.norm(direction)).tolist(),
        "field_tilt_deg": float(field_tilt_deg),
        "exchange_scaling_across_boundaries": scaling,
        "periodic": bool(periodic),
        "pbc_images": PBC_IMAGES if periodic else 0,
        "max_field_tesla": max_field,
        "coarse_step_tesla": max_field * COARSE_FRACTION,
        "min_step_tesla": max_field * RESOLUTION_FRACTION,
        "drop_min_step_tesla": max_field * DROP_RESOLUTION_FRACTION,
        "max_drop": MAX_DROP,
        "dm_tolerance": DM_TOLERANCE,
        "max_iterations": MAX_ITERATIONS,
        "segment_threshold_deg": SEGMENT_THRESHOLD_DEG,
    }
    phases = phases.astype(np.int8)
    euler = euler.astype(np.float64)
    digest = hashlib.sha256()
    header = {
        "model_version": MODEL_VERSION,
        "shape": list(phases.shape),
        "crystal_structures": [int(structures[p]) for p in present.tolist()],
        "materials": {str(p): [m.ms, m.k1, m.a] for p, m in checked_materials.items()},
        "settings": settings,
        "feature_ids": feature_ids is not None and scaling != 1.0,
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(phases).tobytes())
    digest.update(np.ascontiguousarray(euler).tobytes())
    grains = None
    if scaling != 1.0:
        if feature_ids is not None:
            grains = feature_ids
            digest.update(np.ascontiguousarray(feature_ids).tobytes())
        else:
            grains = segment_features(
                euler, phases, structures, threshold_deg=SEGMENT_THRESHOLD_DEG, periodic=periodic
            )
    return _Job(
        phases=phases,
        euler=euler,
        grains=grains,
        materials=checked_materials,
        settings=settings,
        key=digest.hexdigest(),
    )


_PREPARE_ARGUMENTS = set(inspect.signature(_prepare).parameters)
_REQUIRED_ARGUMENTS = {"phases", "euler", "crystal_structures"}


def easy_axes(euler: np.ndarray) -> np.ndarray:
    """Easy axis (crystal ``[001]``, the hexagonal c-axis) of each pixel in sample axes.

    Parameters
    ----------
    euler : ndarray, shape (..., 3)
        Bunge Euler angles in radians (passive, ``v_crystal = g @ v_sample``).

    Returns
    -------
    ndarray, shape (..., 3), float64
        Unit vectors: row 3 of ``g``, i.e. ``g.T @ [0, 0, 1]``.
    """
    return euler_to_matrix(euler)[..., 2, :]


def _grain_boundaries(job: _Job) -> tuple[np.ndarray, np.ndarray]:
    """Boolean (H, W) masks: the link to the +x and to the +y neighbour crosses a boundary."""
    grains = job.grains
    across_x = (grains != np.roll(grains, -1, axis=1)) | (
        job.phases != np.roll(job.phases, -1, axis=1)
    )
    across_y = (grains != np.roll(grains, -1, axis=0)) | (
        job.phases != np.roll(job.phases, -1, axis=0)
    )
    return across_x, across_y


def _job_arrays(job: _Job) -> dict[str, np.ndarray]:
    """Per-cell arrays for the worker, in magnum.np's (nx, ny, nz) order and SI units."""
    settings = job.settings
    nz = settings["thickness_cells"]
    dx = settings["cell_size_nm"] * 1e-9
    lookup = np.zeros((3, 3))  # phase id -> (Ms, K1, A); row 0 unused
    for phase, material in job.materials.items():
        lookup[phase] = (material.ms, material.k1, material.a)
    ms, k1, stiffness = np.moveaxis(lookup[job.phases], -1, 0)

    links = []
    for image_axis in (1, 0):  # magnum x = image columns, magnum y = image rows
        neighbour = np.roll(stiffness, -1, axis=image_axis)
        links.append(2 * stiffness * neighbour / (stiffness + neighbour) / dx**2)
    if settings["exchange_scaling_across_boundaries"] != 1.0:
        for link, across in zip(links, _grain_boundaries(job)):
            link[across] *= settings["exchange_scaling_across_boundaries"]
    if not settings["periodic"]:
        links[0][:, -1] = 0.0
        links[1][-1, :] = 0.0

    def to_cells(image: np.ndarray) -> np.ndarray:
        cells = np.swapaxes(image, 0, 1)[:, :, None]
        return np.repeat(cells, nz, axis=2)

    coupling_z = to_cells(stiffness / dx**2)
    coupling_z[:, :, -1] = 0.0  # open top and bottom surfaces
    axis = np.repeat(np.swapaxes(easy_axes(job.euler), 0, 1)[:, :, None, :], nz, axis=2)

    direction = np.asarray(settings["field_direction"])
    tilt = np.deg2rad(settings["field_tilt_deg"])
    # Tilt towards sample x (or y if the field is along x): a fixed, documented choice.
    reference = np.array([1.0, 0.0, 0.0]) if abs(direction[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    perpendicular = reference - reference @ direction * direction
    perpendicular /= np.linalg.norm(perpendicular)
    field_unit = np.cos(tilt) * direction + np.sin(tilt) * perpendicular
    return {
        "ms": to_cells(ms),
        "ku": to_cells(k1),
        "axis": axis,
        "coupling": np.stack([to_cells(links[0]), to_cells(links[1]), coupling_z]),
        "field_unit": field_unit,
    }


def _worker_params(job: _Job, kernel_dir: Path) -> dict[str, Any]:
    settings = job.settings
    return {
        "cell_size_m": settings["cell_size_nm"] * 1e-9,
        "pbc_images": settings["pbc_images"],
        "b_max": settings["max_field_tesla"],
        "coarse_step": settings["coarse_step_tesla"],
        "min_step": settings["min_step_tesla"],
        "drop_min_step": settings["drop_min_step_tesla"],
        "max_drop": settings["max_drop"],
        "dm_tol": settings["dm_tolerance"],
        "max_iterations": settings["max_iterations"],
        "demag_cache": str(kernel_dir),
    }


def _cache_directory(cache_dir: str | os.PathLike | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return CACHE_ROOT / "coercivity"


def _result_from_record(record: dict, cached: bool) -> CoercivityResult:
    coercive = record["coercive_field_tesla"]
    return CoercivityResult(
        coercive_field_tesla=float("nan") if coercive is None else float(coercive),
        fields_tesla=np.asarray(record["fields_tesla"], dtype=np.float64),
        m_along_field=np.asarray(record["m_along_field"], dtype=np.float64),
        field_steps=len(record["fields_tesla"]) - 1,
        minimizations=int(record["minimizations"]),
        unconverged=int(record["unconverged"]),
        max_field_tesla=float(record["max_field_tesla"]),
        runtime_seconds=float(record["runtime_seconds"]),
        cached=cached,
        key=record["key"],
    )


def _load_cached(directory: Path, key: str) -> CoercivityResult | None:
    path = directory / f"{key}.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if record.get("model_version") != MODEL_VERSION or record.get("key") != key:
        return None
    return _result_from_record(record, cached=True)


def _store(directory: Path, record: dict) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_output(directory / f"{record['key']}.json") as tmp:
            tmp.write_text(json.dumps(record))
    except OSError as error:
        raise InputError(
            f"cannot write the coercivity cache in {str(directory)!r}: {error}"
        ) from error


def _worker_environment(device: str) -> dict[str, str]:
    env = dict(os.environ)
    env["CUDA_DEVICE"] = "-1" if device == "cpu" else (device.partition(":")[2] or "0")
    env.setdefault("TORCHINDUCTOR_CACHE_DIR", str(CACHE_ROOT / "inductor"))
    # The worker uses no torch.compile'd term; skipping dynamo saves ~4 s per start
    # (magnum.np compiles a dummy function on import).
    env.setdefault("TORCHDYNAMO_DISABLE", "1")
    # One thread per worker: on 2 shared cores, two threads per process were up to
    # 10x slower under contention, and the arrays are too small to gain from more.
    env.setdefault("DREAM3D_SD_WORKER_THREADS", "1")
    # The parent package must be importable in the worker even when not installed.
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    return env


class _Worker:
    """A magnum.np worker subprocess serving jobs over stdin/stdout."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self._log_path = log_path
        self._log = open(log_path, "w+b")  # noqa: SIM115 - closed in close()
        self._process = subprocess.Popen(
            [sys.executable, "-m", _WORKER_MODULE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
        )
        self._replies: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_replies, daemon=True).start()

    def _read_replies(self) -> None:
        for line in self._process.stdout:
            self._replies.put(line)
        self._replies.put(None)

    def _log_tail(self) -> str:
        self._log.flush()
        text = self._log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-3:]) if text else "no output"

    def run(self, input_path: Path, output_path: Path, timeout: float) -> dict:
        """Run one job; return the worker's result dict or raise SimulationError."""
        request = json.dumps({"input": str(input_path), "output": str(output_path)})
        try:
            self._process.stdin.write(request + "\n")
            self._process.stdin.flush()
        except OSError as error:
            raise SimulationError(f"coercivity worker is gone: {self._log_tail()}") from error
        try:
            line = self._replies.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise SimulationError(
                f"coercivity simulation exceeded the timeout of {timeout:g} s"
            ) from None
        if line is None:
            self.close()
            raise SimulationError(f"coercivity worker exited: {self._log_tail()}")
        reply = json.loads(line)
        if not reply["ok"]:
            if reply.get("input_error"):
                raise InputError(reply["error"])
            raise SimulationError(f"coercivity simulation failed: {reply['error']}")
        return json.loads(Path(reply["output"]).read_text())

    def kill(self) -> None:
        """Stop the worker at once; a pending :meth:`run` then raises SimulationError."""
        if self._process.poll() is None:
            self._process.kill()

    def close(self) -> None:
        """End the worker: close its input, and kill it if it does not exit promptly."""
        if self._process.poll() is None:
            try:
                self._process.stdin.close()
                self._process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()
                self._process.wait()
        self._log.close()


def _simulate(
    jobs: list[tuple[int, _Job]],
    *,
    workers: int,
    device: str,
    timeout: float,
    kernel_dir: Path,
    on_result,
) -> None:
    """Run jobs on ``workers`` worker processes; call ``on_result(index, result)``.

    Each thread owns one worker subprocess and takes jobs from a shared queue;
    ``on_result`` runs in the calling thread. The first failure kills the other
    workers and is re-raised.
    """
    env = _worker_environment(device)
    pending: queue.Queue[tuple[int, _Job]] = queue.Queue()
    for item in jobs:
        pending.put(item)
    done: queue.Queue[tuple[int, dict | None, BaseException | None]] = queue.Queue()
    running: list[_Worker] = []
    lock = threading.Lock()
    stop = threading.Event()

    with tempfile.TemporaryDirectory(prefix="coercivity-") as scratch:
        scratch_dir = Path(scratch)

        def serve(worker_index: int) -> None:
            worker = None
            try:
                while not stop.is_set():
                    try:
                        index, job = pending.get_nowait()
                    except queue.Empty:
                        return
                    try:
                        started = time.perf_counter()
                        if worker is None:
                            with lock:
                                if stop.is_set():
                                    return
                                worker = _Worker(env, scratch_dir / f"worker{worker_index}.log")
                                running.append(worker)
                        input_path = scratch_dir / f"{job.key}.npz"
                        params = json.dumps(_worker_params(job, kernel_dir))
                        np.savez(input_path, params=params, **_job_arrays(job))
                        result = worker.run(input_path, scratch_dir / f"{job.key}.json", timeout)
                        result["runtime_seconds"] = time.perf_counter() - started
                        done.put((index, result, None))
                    except BaseException as error:  # noqa: BLE001 - re-raised by the caller
                        done.put((index, None, error))
                        return
            finally:
                if worker is not None:
                    worker.close()

        threads = [
            threading.Thread(target=serve, args=(i,), daemon=True)
            for i in range(min(workers, len(jobs)))
        ]
        for thread in threads:
            thread.start()
        finished = False
        try:
            for _ in range(len(jobs)):
                index, result, error = done.get()
                if error is not None:
                    raise error
                on_result(index, result)
            finished = True
        finally:
            stop.set()
            if not finished:
                with lock:
                    for worker in running:
                        worker.kill()
            for thread in threads:
                thread.join()


def _record(job: _Job, result: dict) -> dict:
    coercive = result["coercive_field_tesla"]
    return {
        "key": job.key,
        "model_version": MODEL_VERSION,
        "coercive_field_tesla": None if math.isnan(coercive) else coercive,
        "fields_tesla": result["fields_tesla"],
        "m_along_field": result["m_along_field"],
        "minimizations": result["minimizations"],
        "iterations": result["iterations"],
        "unconverged": result["unconverged"],
        "max_field_tesla": job.settings["max_field_tesla"],
        "runtime_seconds": result["runtime_seconds"],
        "settings": job.settings,
        "materials": {str(p): [m.name, m.ms, m.k1, m.a] for p, m in job.materials.items()},
    }


def _check_run_options(timeout: float, workers: int) -> None:
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        raise InputError(f"timeout must be a positive number of seconds, got {timeout}")
    if int(workers) != workers or workers < 1:
        raise InputError(f"workers must be a positive integer, got {workers}")


def coercivity_batch(
    items: Sequence[Mapping[str, Any] | tuple],
    *,
    workers: int | None = None,
    progress: bool = True,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    device: str = "cpu",
    timeout: float = 900.0,
    **options: Any,
) -> list[CoercivityResult]:
    """Coercivity of several microstructures, in parallel worker processes.

    Parameters
    ----------
    items : sequence
        Each item is a tuple ``(phases, euler, crystal_structures)`` or a mapping
        with those keys and optionally ``feature_ids`` and any keyword option of
        :func:`coercivity` (overriding ``options`` for that item).
    workers : int, optional
        Worker processes (default: the CPU count). Each pays the magnum.np import
        (~5 s) once and then serves jobs from a shared queue.
    progress : bool
        Show a tqdm progress bar over the items.
    cache_dir, use_cache, device, timeout
        As in :func:`coercivity`; ``timeout`` applies to each item.
    **options
        Keyword options of :func:`coercivity` shared by all items.

    Returns
    -------
    list of CoercivityResult
        In the order of ``items``.

    Raises
    ------
    InputError
        Bad input in any item (nothing is simulated then); the message names the item.
    SimulationError
        A simulation failed; results finished before it are in the cache, so a
        rerun resumes.
    """
    from tqdm.auto import tqdm

    if workers is None:
        workers = os.cpu_count() or 1
    _check_run_options(timeout, workers)
    device = _check_device(device)
    jobs: list[_Job] = []
    for index, item in enumerate(items):
        if isinstance(item, Mapping):
            arguments = {**options, **item}
        elif isinstance(item, tuple) and len(item) == 3:
            arguments = {**options, **dict(zip(("phases", "euler", "crystal_structures"), item))}
        else:
            raise InputError(
                f"item {index}: expected (phases, euler, crystal_structures) or a mapping"
            )
        unknown = sorted(set(arguments) - _PREPARE_ARGUMENTS)
        missing = sorted(_REQUIRED_ARGUMENTS - set(arguments))
        if unknown or missing:
            problem = f"unknown option {unknown[0]!r}" if unknown else f"missing {missing[0]!r}"
            raise InputError(f"item {index}: {problem}")
        try:
            jobs.append(_prepare(**arguments))
        except InputError as error:
            raise InputError(f"item {index}: {error}") from None

    directory = _cache_directory(cache_dir)
    results: list[CoercivityResult | None] = [None] * len(jobs)
    first_index: dict[str, int] = {}
    to_run: list[tuple[int, _Job]] = []
    for index, job in enumerate(jobs):
        cached = _load_cached(directory, job.key) if use_cache else None
        if cached is not None:
            results[index] = cached
        elif job.key not in first_index:
            first_index[job.key] = index
            to_run.append((index, job))

    uncached = Counter(job.key for job, result in zip(jobs, results) if result is None)
    bar = tqdm(
        total=len(jobs),
        initial=len(jobs) - sum(uncached.values()),
        desc="coercivity",
        disable=not progress,
    )

    def on_result(index: int, result: dict) -> None:
        record = _record(jobs[index], result)
        if use_cache:
            _store(directory, record)
        results[index] = _result_from_record(record, cached=False)
        bar.update(uncached[record["key"]])

    try:
        if to_run:
            _simulate(
                to_run,
                workers=workers,
                device=device,
                timeout=timeout,
                kernel_dir=directory / "demag_kernels",
                on_result=on_result,
            )
    finally:
        bar.close()
    for index, job in enumerate(jobs):
        if results[index] is None:  # a duplicate of an item simulated in this call
            results[index] = results[first_index[job.key]]
    return results


def coercivity(
    phases: np.ndarray,
    euler: np.ndarray,
    crystal_structures: Sequence[int] | np.ndarray,
    *,
    feature_ids: np.ndarray | None = None,
    cell_size_nm: float = CELL_SIZE_NM,
    thickness_cells: int = 1,
    materials: Mapping[int, Material] | None = None,
    field_direction: Sequence[float] = (0.0, 0.0, 1.0),
    field_tilt_deg: float = 1.0,
    exchange_scaling_across_boundaries: float = 1.0,
    periodic: bool = True,
    max_field_tesla: float | None = None,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    device: str = "cpu",
    timeout: float = 900.0,
) -> CoercivityResult:
    """Coercive field of a two-phase thin film from a micromagnetic hysteresis sweep.

    Parameters
    ----------
    phases : ndarray, shape (H, W), int
        Phase id per pixel, 1 or 2.
    euler : ndarray, shape (H, W, 3), float
        Bunge Euler angles (phi1, Phi, phi2) per pixel in radians.
    crystal_structures : array_like of int, shape (n_phases + 1,)
        DREAM3D ``CrystalStructures`` (Laue ids); entry 0 is reserved. The easy
        axis is crystal ``[001]`` for every structure (the c-axis of hexagonal
        phases; a modelling choice for cubic ones).
    feature_ids : ndarray, shape (H, W), int, optional
        Grains, for ``exchange_scaling_across_boundaries``; without them, grains
        are segmented (same phase, misorientation below 5 degrees).
    cell_size_nm : float
        Edge of the cubic cell, one per pixel, in nm.
    thickness_cells : int
        Film thickness in cells; each layer repeats the image.
    materials : mapping of int to Material, optional
        Parameters per phase; default phase 1 :data:`SMCO5`, phase 2 :data:`SM2CO17`.
    field_direction : sequence of 3 floats
        Applied-field axis in sample coordinates (default the film normal).
    field_tilt_deg : float
        Tilt of the applied field away from ``field_direction`` (towards sample x,
        or y for a field along x), which breaks the symmetry of aligned grains.
    exchange_scaling_across_boundaries : float
        Factor in [0, 1] on the exchange coupling of links between different grains
        or phases.
    periodic : bool
        Periodic in-plane boundaries (demag with image copies, exchange wrapping
        around); False gives an isolated platelet with open edges.
    max_field_tesla : float, optional
        End of the sweep, ``mu0 H`` in T; default 1.2 x the largest ``2 K1 / Ms``
        among the phases present.
    cache_dir : path-like, optional
        Result cache; default ``$DREAM3D_SD_COERCIVITY_CACHE`` or
        ``~/.cache/dream3d_sd_filters/coercivity``. Demag kernels are cached in
        its ``demag_kernels`` subdirectory.
    use_cache : bool
        Read and write the result cache.
    device : str
        ``"cpu"``, ``"cuda"`` or ``"cuda:N"``, for the worker's torch.
    timeout : float
        Seconds before the worker is killed and SimulationError raised.

    Returns
    -------
    CoercivityResult

    Raises
    ------
    InputError
        Wrong shapes or dtypes, phases outside {1, 2}, Euler angles that look like
        degrees, bad parameters, a CUDA device torch cannot use.
    SimulationError
        The worker crashed or exceeded ``timeout``.
    """
    item = {
        "phases": phases,
        "euler": euler,
        "crystal_structures": crystal_structures,
        "feature_ids": feature_ids,
        "cell_size_nm": cell_size_nm,
        "thickness_cells": thickness_cells,
        "materials": materials,
        "field_direction": field_direction,
        "field_tilt_deg": field_tilt_deg,
        "exchange_scaling_across_boundaries": exchange_scaling_across_boundaries,
        "periodic": periodic,
        "max_field_tesla": max_field_tesla,
    }
    return coercivity_batch(
        [item],
        workers=1,
        progress=False,
        cache_dir=cache_dir,
        use_cache=use_cache,
        device=device,
        timeout=timeout,
    )[0]
