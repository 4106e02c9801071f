"""Run one volume task for an adapter, in this process or as ``python -m`` in another one.

The ParaView plugins call :func:`run_task` directly when ParaView's own Python can import
this package and torch. Otherwise (e.g. Kitware's binary ParaView, which brings its own
Python) they start a Python that can::

    python -m dream3d_sd_filters.external_task TASK IN.npz OUT.npz --json-args '{...}'

``IN.npz`` and ``OUT.npz`` are volumes in the :mod:`dream3d_sd_filters.io.npz` layout
(``IN`` is ``-`` for tasks without an input volume). While it runs, the command prints
``SD-PROGRESS <done> <total> <message>`` lines on stdout, and before it exits one
``SD-RESULT <json>`` line with the task's scalar results. A user error exits with code 2
and ``Error: <message>`` on stderr, as the ``sd-filters`` commands do.

Only numpy and the package's light modules are imported at module level; torch and
diffusers are imported when a task runs.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .errors import InputError
from .volume import Volume

if TYPE_CHECKING:
    from .pipelines import MicrostructureSD

#: Tasks this module runs; ``generate`` has no input volume.
TASKS = ("inpaint", "generate", "autoencode", "predict_orientations")
PROGRESS_PREFIX = "SD-PROGRESS"
RESULT_PREFIX = "SD-RESULT"

#: ``progress(done, total, message)``; returning True cancels. The same as
#: ``tasks.Progress``, restated because importing ``tasks`` imports torch.
Progress = Callable[[int, int, str], bool | None]


def load_model(name_or_path: str = "default", device: str = "cpu") -> MicrostructureSD:
    """The pipeline ``name_or_path``, cached while its folder's model card is unchanged.

    ParaView re-executes a filter whenever a property changes; reloading the weights each
    time would dominate small jobs.
    """
    from .pipelines.microstructure_sd import resolve_pretrained

    folder = resolve_pretrained(name_or_path).resolve()
    card = folder / "model_card.json"
    stamp = card.stat().st_mtime_ns if card.is_file() else 0
    key = (str(folder), device, stamp)
    if _MODEL_CACHE.get("key") != key:
        from .pipelines import MicrostructureSD

        _MODEL_CACHE.clear()
        _MODEL_CACHE["model"] = MicrostructureSD.from_pretrained(folder, device=device)
        _MODEL_CACHE["key"] = key
    return _MODEL_CACHE["model"]


_MODEL_CACHE: dict[str, Any] = {}


def _call(function: Callable, task: str, fixed: dict[str, Any], args: dict[str, Any]) -> Any:
    """Call ``function(**fixed, **args)`` after checking ``args`` against its parameters."""
    accepted = set(inspect.signature(function).parameters) - set(fixed)
    unknown = sorted(set(args) - accepted)
    if unknown:
        raise InputError(
            f"unknown argument(s) for task {task!r}: {', '.join(unknown)}; "
            f"accepted: {', '.join(sorted(accepted))}"
        )
    return function(**fixed, **args)


def run_task(
    task: str,
    volume: Volume | None,
    args: dict[str, Any],
    progress: Progress | None = None,
) -> tuple[Volume, dict[str, float]]:
    """Run ``task`` on ``volume`` with keyword arguments ``args``.

    Parameters
    ----------
    task : {"inpaint", "generate", "autoencode", "predict_orientations"}
        ``inpaint``: :func:`~dream3d_sd_filters.tasks.inpaint_volume`; the mask is the
        cell array named by ``args["mask_array"]`` (bool or 0/1 integers), removed from
        the result. ``generate``: :func:`~dream3d_sd_filters.tasks.generate_volume`
        (``volume`` must be None). ``autoencode``:
        :func:`~dream3d_sd_filters.tasks.reconstruct_volume`. ``predict_orientations``:
        :func:`~dream3d_sd_filters.tasks.predict_orientations`.
    volume : Volume or None
    args : dict
        ``model`` (bundled name or pipeline folder, default ``"default"``), ``device``
        (default ``"cpu"``), then the task function's keyword arguments (JSON types;
        lists become tuples).
    progress : callable, optional
        ``progress(done, total, message)``; returning True cancels the task
        (it raises :class:`~dream3d_sd_filters.tasks.Cancelled`).

    Returns
    -------
    volume : Volume
        The task's output volume.
    scalars : dict of str to float
        Scalar results: ``continuity`` for inpaint, ``phase_agreement`` for
        predict_orientations, none otherwise.

    Raises
    ------
    InputError
        Unknown task or argument, missing mask array, or any bad parameter or model.
    """
    from . import tasks

    if task not in TASKS:
        raise InputError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
    model = load_model(str(args.pop("model", "default")), str(args.pop("device", "cpu")))
    if task == "generate":
        if volume is not None:
            raise InputError("task 'generate' takes no input volume")
        fixed = {"model": model, "progress": progress}
        return _call(tasks.generate_volume, task, fixed, args), {}
    if volume is None:
        raise InputError(f"task {task!r} needs an input volume")
    if task == "autoencode":
        fixed = {"volume": volume, "model": model, "progress": progress}
        return _call(tasks.reconstruct_volume, task, fixed, args), {}
    if task == "predict_orientations":
        fixed = {"volume": volume, "model": model, "progress": progress}
        predicted = _call(tasks.predict_orientations, task, fixed, args)
        return predicted.volume, {"phase_agreement": float(predicted.phase_agreement)}
    mask_name = str(args.pop("mask_array", "Mask"))
    volume.require(mask_name)
    mask = volume.cell_data[mask_name]
    volume = volume.replace(cell_data={k: v for k, v in volume.cell_data.items() if k != mask_name})
    fixed = {"volume": volume, "mask": mask, "model": model, "progress": progress}
    result = _call(tasks.inpaint_volume, task, fixed, args)
    return result.volume, {"continuity": float(result.continuity)}


def _print_progress(done: int, total: int, message: str) -> None:
    print(f"{PROGRESS_PREFIX} {done} {total} {message}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0, or 2 for a user error)."""
    parser = argparse.ArgumentParser(
        prog="python -m dream3d_sd_filters.external_task",
        description="Run one sd-filters task on .npz volumes (for the ParaView plugins).",
    )
    parser.add_argument("task", choices=TASKS)
    parser.add_argument("input", help="input volume (.npz), or - for none")
    parser.add_argument("output", help="output volume (.npz); replaced if it exists")
    parser.add_argument("--json-args", default="{}", help="task keyword arguments as a JSON object")
    options = parser.parse_args(argv)
    try:
        from .io import read_volume, write_volume

        args = json.loads(options.json_args)
        if not isinstance(args, dict):
            raise InputError(f"--json-args must be a JSON object, got {options.json_args!r}")
        if not str(options.output).lower().endswith(".npz"):
            raise InputError(f"output must be an .npz file, got {options.output!r}")
        volume = None if options.input == "-" else read_volume(options.input)
        result, scalars = run_task(options.task, volume, args, _print_progress)
        write_volume(result, options.output, overwrite=True)
    except json.JSONDecodeError as error:
        print(f"Error: --json-args is not valid JSON ({error})", file=sys.stderr)
        return 2
    except InputError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 2
    print(f"{RESULT_PREFIX} {json.dumps(scalars)}", flush=True)
    return 0


__all__ = ["PROGRESS_PREFIX", "RESULT_PREFIX", "TASKS", "load_model", "main", "run_task"]

if __name__ == "__main__":
    sys.exit(main())
