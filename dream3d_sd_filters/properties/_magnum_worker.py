"""Worker process for :mod:`dream3d_sd_filters.properties.coercivity`.

This module is the only place that imports magnum.np. Importing magnum.np calls
``torch.set_default_dtype(torch.float64)`` and ``torch.set_default_device(...)``,
so it must run in its own process (``python -m ...properties._magnum_worker``),
never in a process that also holds diffusion models.

Protocol: the worker reads one job per line on stdin, a JSON object
``{"input": <npz path>, "output": <json path>}``, and answers each with one line
``{"output": <json path>, "ok": true}`` on stdout after the result file is
written, or ``{"ok": false, "error": ...}`` with ``"input_error": true`` when the
request itself cannot be served (a CUDA device torch does not have). It exits at
end of input; staying alive across jobs pays the magnum.np import (~5 s) once.

The ``.npz`` job holds per-cell arrays in magnum.np's ``(nx, ny, nz)`` order, in SI
units, prepared by the parent (``coercivity._job_arrays``):

``ms`` (nx, ny, nz) A/m; ``ku`` (nx, ny, nz) J/m^3; ``axis`` (nx, ny, nz, 3) unit
easy axes; ``coupling`` (3, nx, ny, nz) J/m^3, the exchange coupling of the link
from a cell to its +x/+y/+z neighbour (wrap-around links included, zero where the
boundary is open); ``field_unit`` (3,); and ``params``, a JSON string with the
cell size and the sweep settings.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np


def _field_terms(magnumnp, torch, state, arrays: dict[str, np.ndarray]):
    """Link-scaled exchange, uniaxial anisotropy and Zeeman terms (demag comes separately)."""
    mu_0 = magnumnp.constants.mu_0
    ms = state.convert_tensorfield(torch.as_tensor(arrays["ms"]))
    axis = state.convert_tensorfield(torch.as_tensor(arrays["axis"]))
    ku = state.convert_tensorfield(torch.as_tensor(arrays["ku"]))
    state.material = {"Ms": ms, "Ku": ku, "Ku_axis": axis}

    # Fold 2 / (mu0 Ms) into the couplings and keep only the axes that have links
    # (a one-cell-thick film has none along z): fewer tensor operations per call.
    to_field = 2.0 / (mu_0 * ms)
    links = []
    for dim in range(3):
        forward = torch.as_tensor(arrays["coupling"][dim]).unsqueeze(-1)
        if torch.any(forward != 0):
            backward = torch.roll(forward, 1, dims=dim)
            links.append((dim, forward * to_field, backward * to_field))
    diagonal = sum((forward + backward for _, forward, backward in links), torch.zeros_like(ms))

    class LinkExchangeField(magnumnp.LinearFieldTerm):
        """Exchange with a coupling per link, so grain boundaries can be weakened.

        magnum.np's ``ExchangeField`` derives every link from the harmonic mean of
        the two cells' A and has no per-link factor; the parent supplies
        ``coupling = 2 A_i A_j / (A_i + A_j) * scale / dx^2`` per link, which gives
        ``ExchangeField``'s field exactly when every scale is 1. The link from cell
        i to i+1 is stored at i; seen from i+1 it is the array rolled by one.
        """

        evaluations = 0

        def h(self, state):
            LinkExchangeField.evaluations += 1
            m = state.m
            h = -diagonal * m
            for dim, forward, backward in links:
                h = (
                    h
                    + forward * torch.roll(m, -1, dims=dim)
                    + backward * torch.roll(m, 1, dims=dim)
                )
            return h

    class Anisotropy(magnumnp.LinearFieldTerm):
        """``2 K / (mu0 Ms) u (u . m)``, magnum.np's ``UniaxialAnisotropyField`` uncompiled.

        The ``torch.compile`` of the original costs 6-20 s per worker start, more
        than the fused kernel saves on grids of a few thousand cells.
        """

        prefactor = 2.0 * ku * axis / (mu_0 * ms)

        def h(self, state):
            return self.prefactor * torch.sum(axis * state.m, dim=3, keepdim=True)

    external = magnumnp.ExternalField(state.Constant([0.0, 0.0, 0.0]))
    terms = [LinkExchangeField(), Anisotropy(), external]
    return terms, external, LinkExchangeField


def _sweep(magnumnp, state, minimizer, external, counter, field_unit, params) -> dict:
    """Adaptive descending field sweep; returns the curve and the coercive field.

    The applied field goes from 0 towards ``-b_max`` (tesla, along ``field_unit``)
    in steps of ``coarse_step``. A trial whose relaxed ``<m.h>`` turns negative
    (or drops by more than ``max_drop``) is rejected and the interval between the
    last accepted field and the rejected one is bisected down to ``min_step`` (or
    ``drop_min_step``); the trial that is still abrupt at that resolution is
    accepted. The fields at which
    trials reversed ``<m.h>`` are remembered, so after a partial drop the search
    for the zero crossing resumes by bisection instead of coarse steps. Every
    trial starts from the last accepted state, so the sweep stays quasi-static.
    """
    h_unit = state.Constant(field_unit.tolist())
    h_per_tesla = h_unit / magnumnp.constants.mu_0
    coarse_step, min_step, b_max = params["coarse_step"], params["min_step"], params["b_max"]
    resolution = min_step * (1 + 1e-9)
    drop_resolution = params["drop_min_step"] * (1 + 1e-9)
    stats = {"minimizations": 0, "iterations": 0, "unconverged": 0}

    def relax(b_tesla: float) -> float:
        external.h = b_tesla * h_per_tesla
        before = counter.evaluations
        converged = minimizer.minimize(
            state, maxiter=params["max_iterations"], dm_tol=params["dm_tol"]
        )
        stats["minimizations"] += 1
        stats["iterations"] += counter.evaluations - before
        stats["unconverged"] += int(not converged)
        return float((state.m * h_unit).sum(-1).mean())

    fields = [0.0]
    curve = [relax(0.0)]
    m_accepted = state.m.clone()
    b = 0.0
    reversals: list[float] = []  # fields at which a trial reversed <m.h>
    b_rejected = None  # nearest field at which a trial was abrupt
    while b > -b_max * (1 - 1e-12) and curve[-1] >= 0.0:
        if b_rejected is None:
            b_try = max(b - coarse_step, -b_max)
        elif b - b_rejected <= (resolution if b_rejected in reversals else drop_resolution):
            b_try = b_rejected
        else:
            b_try = 0.5 * (b + b_rejected)
        state.m = m_accepted.clone()
        m_try = relax(b_try)
        reversed_ = m_try < 0.0
        abrupt = reversed_ or curve[-1] - m_try > params["max_drop"]
        if abrupt and b - b_try > (resolution if reversed_ else drop_resolution):
            b_rejected = b_try
            if reversed_:
                reversals.append(b_try)
            continue
        b = b_try
        fields.append(b)
        curve.append(m_try)
        m_accepted = state.m.clone()
        if abrupt or b_rejected == b:
            # The event at b_rejected has been resolved; the nearest reversal seen
            # beyond it (from an earlier, less reversed state) bounds the next trial.
            b_rejected = max((r for r in reversals if r < b), default=None)

    coercive = float("nan")
    if len(curve) == 1 and curve[0] < 0.0:
        # Relaxed at zero field the magnetization already points against the field
        # (a demagnetised state): it reverses without any applied field.
        coercive = 0.0
    elif curve[-1] < 0.0:
        b0, b1, m0, m1 = fields[-2], fields[-1], curve[-2], curve[-1]
        coercive = abs(b0 + (b1 - b0) * m0 / (m0 - m1))
    return {
        "coercive_field_tesla": coercive,
        "fields_tesla": fields,
        "m_along_field": curve,
        **stats,
    }


def _fast_classes(magnumnp, torch):
    """magnum.np's DemagField and MinimizerBB with cheaper, equivalent inner loops.

    On a few thousand cells the run time is Python and kernel-launch overhead, so
    the gain comes from fewer tensor operations per iteration (about 2x overall).
    """

    class BatchedDemagField(magnumnp.DemagField):
        """DemagField with one FFT per direction for all three components.

        magnum.np transforms each component separately and forms the nine products
        one by one; here the 3x3 kernel multiplies the transformed vector field in
        one batched matmul. The output size of the inverse FFT is given explicitly,
        which also keeps odd periodic grids correct.
        """

        def h(self, state):
            if not hasattr(self, "_kernel"):
                self._kernel = torch.stack(
                    [torch.stack(row, dim=-1) for row in self._N], dim=-2
                ).to(torch.complex128 if state.dtype == torch.float64 else torch.complex64)
                shape = self._shape(state)
                self._dims = [i for i in range(3) if state.mesh.n[i] > 1]
                self._sizes = [shape[i] for i in self._dims]
            m_fft = torch.fft.rfftn(state.material["Ms"] * state.m, dim=self._dims, s=self._sizes)
            h_fft = (self._kernel @ m_fft.unsqueeze(-1)).squeeze(-1)
            h = torch.fft.irfftn(h_fft, dim=self._dims, s=self._sizes)
            nx, ny, nz = state.mesh.n
            return h[:nx, :ny, :nz]

    class CompactMinimizerBB(magnumnp.MinimizerBB):
        """MinimizerBB with its semi-implicit midpoint step in vector form.

        magnum.np writes the Cayley update component by component (~40 tensor
        operations); with ``a = m x h`` it is
        ``m' = ((4 - tau^2 |a|^2) m + 4 tau a x m + 2 tau^2 (a . m) a) / (4 + tau^2 |a|^2)``.
        """

        def _midpoint(self, m, h, tau):
            a = torch.linalg.cross(m, h)
            a2 = (a * a).sum(-1, keepdim=True)
            am = (a * m).sum(-1, keepdim=True)
            tau2 = tau * tau
            numerator = (4 - tau2 * a2) * m + (4 * tau) * torch.linalg.cross(a, m)
            return (numerator + (2 * tau2) * am * a) / (4 + tau2 * a2)

    return BatchedDemagField, CompactMinimizerBB


def _demag_field(demag_class, torch, state, params, kernels: dict):
    """A demag field term with its kernel cached in memory and, atomically, on disk.

    DemagField's own ``cache_dir`` writes the kernel in place, which races when
    several workers start on grids of the same size; here it is written to a
    temporary file and renamed, and installed through DemagField's ``_N``
    attribute (magnum.np 2.2).
    """
    demag = demag_class()
    mesh = state.mesh
    name = "N_{}x{}x{}_dx{:.6g}_pbc{}_{}.pt".format(
        *mesh.n, mesh.dx[0], mesh.pbc[0], str(state.dtype).rpartition(".")[2]
    )
    if name not in kernels:
        path = Path(params["demag_cache"]) / name
        try:
            kernels[name] = torch.load(path, map_location=state.device)
        except (OSError, RuntimeError, EOFError):
            kernels[name] = demag._init_N(state)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
            torch.save(kernels[name], tmp)
            os.replace(tmp, path)
    demag._N = kernels[name]
    return demag


def _run_job(magnumnp, torch, job: dict, kernels: dict) -> dict:
    started = time.perf_counter()
    with np.load(job["input"]) as data:
        arrays = {key: data[key] for key in data.files}
    params = json.loads(str(arrays.pop("params")))
    dx = params["cell_size_m"]
    images = params["pbc_images"]
    mesh = magnumnp.Mesh(arrays["ms"].shape, (dx, dx, dx), pbc=(images, images, 0))
    state = magnumnp.State(mesh)
    terms, external, counter = _field_terms(magnumnp, torch, state, arrays)
    demag_class, minimizer_class = _fast_classes(magnumnp, torch)
    terms.insert(0, _demag_field(demag_class, torch, state, params, kernels))
    field_unit = arrays["field_unit"]
    # Start in the remanent state of saturation along +h: every cell along the end
    # of its easy axis on the field's side. Relaxing the saturated state itself at
    # zero field lets MinimizerBB's long steps carry most cells over the barrier.
    axis = state.material["Ku_axis"]
    on_field_side = (axis * torch.as_tensor(field_unit)).sum(-1, keepdim=True) >= 0
    state.m = torch.where(on_field_side, axis, -axis)
    setup_s = time.perf_counter() - started
    minimizer = minimizer_class(terms)
    result = _sweep(magnumnp, state, minimizer, external, counter, field_unit, params)
    result["setup_seconds"] = setup_s
    result["sweep_seconds"] = time.perf_counter() - started - setup_s
    return result


def _device_problem(torch) -> str | None:
    """Why the requested CUDA device cannot be used, or None."""
    index = int(os.environ.get("CUDA_DEVICE", "-1"))
    if index < 0:
        return None
    if not torch.cuda.is_available():
        return f"device cuda:{index} requested, but this torch ({torch.__version__}) has no CUDA device"
    if index >= torch.cuda.device_count():
        return f"device cuda:{index} requested, but only {torch.cuda.device_count()} CUDA devices exist"
    return None


def _reply(job: dict, **fields) -> None:
    sys.stdout.write(json.dumps({"output": job["output"], **fields}) + "\n")
    sys.stdout.flush()


def main() -> int:
    """Serve jobs from stdin until it closes."""
    started = time.perf_counter()
    import torch

    torch.set_num_threads(max(int(os.environ.get("DREAM3D_SD_WORKER_THREADS", "1")), 1))
    problem = _device_problem(torch)
    if problem is None:
        import magnumnp

        magnumnp.logging.set_log_level(30)
        if magnumnp.device.type == "cpu":
            # magnum.np installs a default-device mode that intercepts every torch
            # call; on the CPU it changes nothing and costs ~5-10% of the run time.
            torch.set_default_device(None)
    import_s = time.perf_counter() - started
    kernels: dict = {}

    for line in sys.stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        if problem is not None:
            _reply(job, ok=False, input_error=True, error=problem)
            continue
        try:
            result = _run_job(magnumnp, torch, job, kernels)
        except Exception as error:  # noqa: BLE001 - sent to the parent, which raises it
            traceback.print_exc()
            _reply(job, ok=False, error=f"{type(error).__name__}: {error}")
            continue
        result["import_seconds"] = import_s
        import_s = 0.0
        out = Path(job["output"])
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(json.dumps(result))
        os.replace(tmp, out)
        _reply(job, ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
