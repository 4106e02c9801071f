"""Progress reporting shared by the tasks and their adapters (CLI, DREAM3D-NX, ParaView)."""

from __future__ import annotations

from collections.abc import Callable

#: ``progress(done, total, message)``; returning True asks the task to stop.
Progress = Callable[[int, int, str], bool | None]


def step_callback(progress: Progress | None, message: str):
    """Adapt a task-level :data:`Progress` to the pipelines' ``callback(done, total)``."""
    if progress is None:
        return None
    return lambda done, total: progress(done, total, message)


def tqdm_progress(desc: str, disable: bool = False) -> Progress:
    """A :data:`Progress` that drives a tqdm bar (for the command line)."""
    from tqdm.auto import tqdm

    bar = tqdm(desc=desc, unit="step", disable=disable)

    def update(done: int, total: int, message: str) -> None:
        bar.total = total
        bar.set_description(f"{desc}: {message}" if message else desc)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update
