"""Speed of the micromagnetic coercivity calculator on one 64 x 64 microstructure.

Usage: python benchmarks/bench_coercivity.py [--size 64] [--repeats 3] [--no-baseline]

Target (issue 6): one 64 x 64 microstructure in <= 30 s on 2 CPU cores, warm caches.

The microstructure is a periodic Voronoi film of ~16 grains, half SmCo5 and half
Sm2Co17, with uniformly random orientations, at the default settings (1 nm cells,
one cell thick, periodic). Rows:

* cold: empty cache directory, so the demag kernel is computed (and the result is
  not cached); includes the worker start (torch + magnum.np import).
* warm: the demag kernel is on disk, the result cache is bypassed
  (``use_cache=False``); median of ``--repeats`` runs, each a fresh worker.
* cached: the same call answered from the result cache.
* baseline: the stock magnum.np recipe of ``ml-stack-notes.md`` section 7 on the same
  cells, run in its own subprocess: magnum.np's ``torch.compile``'d ``ExchangeField``
  and ``UniaxialAnisotropyField``, its ``DemagField`` with the same periodic images,
  ``MinimizerBB`` with ``dm_tol=1e2``, the same initial state, and fixed 0.25 T
  field steps until ``<m.h>`` crosses zero; inductor cache warm after its first run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

_BASELINE = r"""
import json, sys, time
started = time.perf_counter()
import numpy as np, torch
torch.set_num_threads(1)
import magnumnp as mn
mn.logging.set_log_level(30)
arrays = dict(np.load(sys.argv[1]))
params = json.loads(str(arrays.pop("params")))
dx, images = params["cell_size_m"], params["pbc_images"]
state = mn.State(mn.Mesh(arrays["ms"].shape, (dx, dx, dx), pbc=(images, images, 0)))
state.material = {"Ms": arrays["ms"], "A": arrays["a"], "Ku": arrays["ku"],
                  "Ku_axis": torch.as_tensor(arrays["axis"])}
unit = torch.as_tensor(arrays["field_unit"])
axis = torch.as_tensor(arrays["axis"])
state.m = torch.where((axis * unit).sum(-1, keepdim=True) >= 0, axis, -axis)
external = mn.ExternalField([0.0, 0.0, 0.0])
minimizer = mn.MinimizerBB([mn.DemagField(), mn.ExchangeField(), mn.UniaxialAnisotropyField(),
                            external])
fields, curve, b = [], [], 0.0
while True:
    external.h = (b / mn.constants.mu_0 * unit).tolist()
    minimizer.minimize(state, dm_tol=1e2)
    fields.append(b)
    curve.append(float((state.m * unit).sum(-1).mean()))
    if curve[-1] < 0 or b < -params["b_max"]:
        break
    b -= 0.25
m0, m1 = curve[-2], curve[-1]
hc = abs(fields[-2] + (fields[-1] - fields[-2]) * m0 / (m0 - m1))
print(json.dumps({"hc": hc, "steps": len(fields) - 1, "seconds": time.perf_counter() - started}))
"""


def _microstructure(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from scipy.spatial import cKDTree

    from dream3d_sd_filters.orientations import random_orientations

    rng = np.random.default_rng(seed)
    grains = max(4, size * size // 256)
    seeds = rng.random((grains, 2)) * size
    axis = np.arange(size) + 0.5
    centres = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    labels = cKDTree(seeds, boxsize=size).query(centres)[1].reshape(size, size)
    phase_of_grain = np.where(np.arange(grains) % 2 == 0, 1, 2)
    rng.shuffle(phase_of_grain)
    return phase_of_grain[labels].astype(np.int32), random_orientations(grains, rng)[labels]


def _baseline(phases: np.ndarray, euler: np.ndarray, structures: list[int], scratch: Path):
    import dream3d_sd_filters.properties.coercivity  # noqa: F401 - loads the module

    co = sys.modules["dream3d_sd_filters.properties.coercivity"]

    job = co._prepare(phases, euler, structures)
    arrays = co._job_arrays(job)
    lookup = np.zeros(3)
    for phase, material in job.materials.items():
        lookup[phase] = material.a
    arrays["a"] = np.swapaxes(lookup[job.phases], 0, 1)[:, :, None]
    params = co._worker_params(job, scratch)
    path = scratch / "baseline.npz"
    np.savez(path, params=json.dumps(params), **arrays)
    env = co._worker_environment("cpu")
    env.pop("TORCHDYNAMO_DISABLE")  # the stock recipe compiles its field terms
    out = subprocess.run(
        [sys.executable, "-c", _BASELINE, str(path)], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"baseline failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args()

    from dream3d_sd_filters.properties import coercivity

    phases, euler = _microstructure(args.size, seed=1)
    structures = [999, 0, 0]
    print(f"coercivity of a {args.size}x{args.size} two-phase film, {os.cpu_count()} CPUs")
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print(
        f"{'run':<26} {'seconds':>8} {'cpu s':>7} {'mu0Hc (T)':>10} {'steps':>6} "
        f"{'minimizations':>14}"
    )

    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def row(label, seconds, cpu, hc, steps, minimizations) -> None:
        print(
            f"{label:<26} {seconds:8.2f} {cpu:7.2f} {hc:10.3f} {steps:6d} {minimizations:14d}",
            flush=True,
        )

    with tempfile.TemporaryDirectory() as scratch:
        cache = Path(scratch) / "cache"

        def timed(label: str, **kwargs) -> float:
            start, cpu = time.perf_counter(), children_cpu()
            result = coercivity(phases, euler, structures, cache_dir=cache, **kwargs)
            seconds = time.perf_counter() - start
            row(
                label,
                seconds,
                children_cpu() - cpu,
                result.coercive_field_tesla,
                result.field_steps,
                result.minimizations,
            )
            return seconds

        timed("cold (kernel computed)", use_cache=False)
        warm = float(np.median([timed("warm", use_cache=False) for _ in range(args.repeats)]))
        print(f"{'warm median':<26} {warm:8.2f}")
        coercivity(phases, euler, structures, cache_dir=cache)
        timed("cached")
        if not args.no_baseline:
            _baseline(phases, euler, structures, Path(scratch))  # warms the inductor cache
            cpu = children_cpu()
            base = _baseline(phases, euler, structures, Path(scratch))
            row(
                "baseline (stock, 0.25 T)",
                base["seconds"],
                children_cpu() - cpu,
                base["hc"],
                base["steps"],
                base["steps"] + 1,
            )
            print(f"warm speed-up over baseline: {base['seconds'] / warm:.2f}x")


if __name__ == "__main__":
    main()
