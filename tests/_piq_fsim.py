"""Test-only access to piq's FSIM, an independent implementation to check ours against.

piq cannot be installed here (it requires torchvision), but its ``fsim`` module only
needs ``piq.utils`` and ``piq.functional``, which are plain torch. This helper unpacks
the piq 0.8.0 wheel and imports those modules without running ``piq/__init__.py``
(which imports the torchvision-dependent parts). Tests never download: point
``PIQ_WHEEL`` at the wheel, or fetch it next to the virtual environment with::

    .venv/bin/pip download piq==0.8.0 --no-deps -d .venv/piq
"""

from __future__ import annotations

import importlib
import os
import sys
import types
import zipfile
from collections.abc import Callable
from pathlib import Path

_WHEEL_NAME = "piq-0.8.0-py3-none-any.whl"


def find_piq_wheel() -> Path | None:
    """The piq wheel from ``PIQ_WHEEL`` or ``<repo>/.venv/piq/``, or None."""
    candidates = [os.environ.get("PIQ_WHEEL", "")]
    candidates.append(str(Path(__file__).resolve().parents[1] / ".venv" / "piq" / _WHEEL_NAME))
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def load_piq_fsim(wheel: Path, unpack_dir: Path) -> Callable:
    """Return ``piq.fsim.fsim`` loaded from ``wheel`` without importing piq's package init."""
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpack_dir)
    package = types.ModuleType("piq")
    package.__path__ = [str(unpack_dir / "piq")]
    saved = {name: module for name, module in sys.modules.items() if name.split(".")[0] == "piq"}
    sys.modules["piq"] = package
    try:
        return importlib.import_module("piq.fsim").fsim
    finally:
        for name in [name for name in sys.modules if name.split(".")[0] == "piq"]:
            del sys.modules[name]
        sys.modules.update(saved)
