"""Run an sd-filters task in ParaView's Python, or in an external Python through ``.npz`` files.

In-process needs ParaView's Python to import ``dream3d_sd_filters`` and ``torch`` (Debian's
ParaView with a venv on its Python, see docs/paraview.md). Otherwise the task runs as
``<python> -m dream3d_sd_filters.external_task TASK IN.npz OUT.npz --json-args ...`` with
the Python named by the plugin's External Python property or ``$SD_FILTERS_PYTHON``.
Both paths report progress between diffusion steps and stop when asked to: in-process
through the task's ``progress`` callback, externally by killing the process.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import site
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import IO, Any

from .arrays import VoxelGrid, read_npz, write_npz

ENV_PYTHON = "SD_FILTERS_PYTHON"
#: Values of the plugins' Execution property.
AUTOMATIC, IN_PROCESS, EXTERNAL = 0, 1, 2
EXECUTION_LABELS = {
    AUTOMATIC: "Automatic",
    IN_PROCESS: "In ParaView's Python",
    EXTERNAL: "External Python",
}
PROGRESS_PREFIX = "SD-PROGRESS"
RESULT_PREFIX = "SD-RESULT"
#: How often (seconds) an external run checks for an abort request between output lines.
POLL_SECONDS = 0.1

#: ``progress(fraction)`` with fraction in [0, 1].
ProgressFn = Callable[[float], None]
#: ``abort()`` -> True once the user asked to stop.
AbortFn = Callable[[], bool]


class TaskError(RuntimeError):
    """A task could not run or failed; the message is one line for ParaView's Output Messages."""


class TaskCancelled(RuntimeError):
    """The user aborted the task."""


def in_process_available() -> bool:
    """True when this Python can import dream3d_sd_filters and torch."""
    return all(
        importlib.util.find_spec(name) is not None for name in ("dream3d_sd_filters", "torch")
    )


def prefer_environment_packages() -> None:
    """Put the running venv's site-packages ahead of system ``dist-packages`` entries.

    Debian's ParaView prepends ``/lib/python3/dist-packages`` to ``sys.path`` when it
    starts Python, so in a ``--system-site-packages`` venv Debian's older packages would
    shadow the venv's for every module imported afterwards (torch then fails on Debian's
    sympy 1.11). Outside a venv this does nothing.
    """
    if sys.prefix == sys.base_prefix:
        return
    own = [p for p in site.getsitepackages() if p.startswith(sys.prefix) and p in sys.path]
    if not own:
        return
    first = min(sys.path.index(p) for p in own)
    ahead = [p for p in sys.path[:first] if "dist-packages" in p]
    for path in ahead:
        sys.path.remove(path)
    last = max(sys.path.index(p) for p in own)
    sys.path[last + 1 : last + 1] = ahead


def external_python(configured: str) -> str:
    """The external Python: the plugin property if set, else ``$SD_FILTERS_PYTHON``, else ''."""
    return configured.strip() or os.environ.get(ENV_PYTHON, "").strip()


def run_task(
    task: str,
    grid: VoxelGrid | None,
    args: dict[str, Any],
    *,
    execution: int = AUTOMATIC,
    python: str = "",
    progress: ProgressFn,
    abort: AbortFn,
) -> tuple[VoxelGrid, dict[str, float]]:
    """Run ``task`` (see ``dream3d_sd_filters.external_task.run_task``) on ``grid``.

    Parameters
    ----------
    task : {"inpaint", "generate", "autoencode", "predict_orientations"}
    grid : VoxelGrid or None
        Input voxels (None for ``generate``).
    args : dict
        JSON-serialisable task arguments (``model``, then the task's keywords).
    execution : {AUTOMATIC, IN_PROCESS, EXTERNAL}
        AUTOMATIC runs in-process when possible, else externally.
    python : str
        External Python executable; '' falls back to ``$SD_FILTERS_PYTHON``.
    progress, abort : callable
        Called between steps; ``abort()`` returning True stops the task.

    Returns
    -------
    grid : VoxelGrid
    scalars : dict of str to float

    Raises
    ------
    TaskError
        No way to run the task, or the task failed (bad parameters, missing model...).
    TaskCancelled
        ``abort()`` returned True.
    """
    python = external_python(python)
    if execution == IN_PROCESS or (execution == AUTOMATIC and in_process_available()):
        return _run_in_process(task, grid, args, progress, abort)
    if not python:
        reason = (
            "External Python is selected"
            if execution == EXTERNAL
            else "ParaView's Python cannot import dream3d_sd_filters and torch"
        )
        raise TaskError(
            f"{reason}, but no external Python is set: fill in the plugin's 'External Python' "
            f"property or set ${ENV_PYTHON} to a Python where dream3d-sd-filters is installed"
        )
    return _run_external(python, task, grid, args, progress, abort)


def _run_in_process(
    task: str, grid: VoxelGrid | None, args: dict[str, Any], progress: ProgressFn, abort: AbortFn
) -> tuple[VoxelGrid, dict[str, float]]:
    prefer_environment_packages()
    try:
        from dream3d_sd_filters.errors import InputError
        from dream3d_sd_filters.external_task import run_task as run_package_task
        from dream3d_sd_filters.pipelines.microstructure_sd import Cancelled
        from dream3d_sd_filters.volume import Volume
    except ImportError as error:
        raise TaskError(
            f"ParaView's Python cannot run the task in-process ({error}); choose 'Automatic' "
            f"or 'External Python' and set the external Python"
        ) from None

    def tick(done: int, total: int, message: str) -> bool:
        progress(done / max(total, 1))
        return abort()

    try:
        volume = None
        if grid is not None:
            volume = Volume(
                dims=grid.dims,
                spacing=grid.spacing,
                origin=grid.origin,
                length_unit=grid.length_unit,
                cell_data=grid.cell,
                ensemble_data=grid.ensemble,
                phase_names=grid.phase_names,
                name="ParaView",
            )
        result, scalars = run_package_task(task, volume, dict(args), tick)
    except Cancelled:
        raise TaskCancelled(f"{task} cancelled") from None
    except InputError as error:
        raise TaskError(str(error)) from None
    return (
        VoxelGrid(
            dims=result.dims,
            spacing=result.spacing,
            origin=result.origin,
            cell=dict(result.cell_data),
            ensemble=dict(result.ensemble_data),
            length_unit=result.length_unit,
            phase_names=result.phase_names,
        ),
        scalars,
    )


def _pump(stream: IO[str], lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _run_external(
    python: str,
    task: str,
    grid: VoxelGrid | None,
    args: dict[str, Any],
    progress: ProgressFn,
    abort: AbortFn,
) -> tuple[VoxelGrid, dict[str, float]]:
    # A PYTHONHOME inherited from a ParaView binary would point the other Python at
    # ParaView's standard library.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHOME"}
    with tempfile.TemporaryDirectory(prefix="sd-filters-paraview-") as folder:
        source = "-"
        if grid is not None:
            source = os.path.join(folder, "input.npz")
            write_npz(grid, source)
        target = os.path.join(folder, "output.npz")
        command = [python, "-m", "dream3d_sd_filters.external_task", task, source, target]
        command += ["--json-args", json.dumps(args)]
        try:
            process = subprocess.Popen(
                command,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
                env=env,
            )
        except OSError as error:
            raise TaskError(f"cannot start the external Python {python!r}: {error}") from None
        lines: queue.Queue = queue.Queue()
        errors: list[str] = []
        threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
        reader = threading.Thread(target=lambda: errors.extend(process.stderr), daemon=True)
        reader.start()
        scalars: dict[str, float] = {}
        while True:
            if abort():
                process.kill()
                process.wait()
                raise TaskCancelled(f"{task} cancelled")
            try:
                line = lines.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if line is None:
                break
            if line.startswith(PROGRESS_PREFIX):
                done, total = (int(v) for v in line.split()[1:3])
                progress(done / max(total, 1))
            elif line.startswith(RESULT_PREFIX):
                scalars = json.loads(line[len(RESULT_PREFIX) :])
        code = process.wait()
        reader.join()
        if code != 0:
            text = [line.strip() for line in errors if line.strip()]
            reported = [line[len("Error: ") :] for line in text if line.startswith("Error: ")]
            message = (reported or text or [f"exit code {code}"])[-1]
            raise TaskError(f"the external Python {python!r} failed: {message}")
        return read_npz(target), scalars
