"""Fixtures for the ParaView plugin tests (Debian's ParaView 5.11 from apt).

Run them with the ``.venv-pv`` venv (``make test-paraview``): Debian's Python with its
site packages (paraview, vtk, numpy 1.24) plus torch and this project. The main test
venv cannot import paraview, and tests/conftest.py skips this folder there. The model
comes from tests/conftest.py's ``untrained_model_dir`` (pytest loads that conftest too).
"""

from __future__ import annotations

import inspect

# Debian's paraview.detail.pythonalgorithm imports inspect.getargspec, which Python 3.11
# removed; without this no Python plugin loads. It must run before the first plugin load.
if not hasattr(inspect, "getargspec"):
    inspect.getargspec = inspect.getfullargspec

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import pv_helpers  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def pv():
    """``paraview.simple`` with the SD plugins (``pv_helpers.PLUGINS``) loaded (builtin session)."""
    from paraview import simple

    for name in pv_helpers.PLUGINS:
        simple.LoadPlugin(str(pv_helpers.PLUGIN_DIR / name))
    from sd_paraview_bridge import runner

    # Starting ParaView put Debian's dist-packages ahead of this venv on sys.path.
    runner.prefer_environment_packages()
    return simple


@pytest.fixture(scope="session")
def volume():
    """A synthetic two-phase volume (cubic + hexagonal), 32 x 32 x 8, with odd geometry."""
    from dream3d_sd_filters.synth import SynthParams, build_microstructure

    params = SynthParams(mu=1.2, sigma=0.2, crystal_structures=(1, 0))
    built = build_microstructure(params, dims=pv_helpers.DIMS, seed=3, workers=1)
    return built.replace(spacing=pv_helpers.SPACING, origin=pv_helpers.ORIGIN)


@pytest.fixture(scope="session")
def xdmf_file(volume, tmp_path_factory) -> Path:
    """``volume`` written by sd-filters as ``.dream3d``; returns the ``.xdmf`` sidecar."""
    from dream3d_sd_filters.io import write_volume

    written = write_volume(volume, tmp_path_factory.mktemp("xdmf") / "volume.dream3d")
    return written.with_suffix(".xdmf")


@pytest.fixture(scope="session")
def reader(pv, xdmf_file):
    """The .xdmf written by sd-filters, opened as a ParaView user would."""
    source = pv.OpenDataFile(str(xdmf_file))
    source.UpdatePipeline()
    return source


@pytest.fixture(scope="session")
def inpaint(pv, untrained_model_dir) -> Callable:
    """``inpaint(source, box=True, **properties)``: an SD Inpaint proxy on ``source``.

    It uses the untrained model and ``pv_helpers.FAST_INPAINT`` (``properties`` override
    them) and, with ``box``, masks the test box (``pv_helpers.box_mask``).
    """

    def make(source, box: bool = True, **properties):
        mask = {"MaskSource": "Box", **pv_helpers.box_mask()[0]} if box else {}
        settings = {**mask, **pv_helpers.FAST_INPAINT, **properties}
        return pv.SDInpaint(Input=source, Model=str(untrained_model_dir), **settings)

    return make


@pytest.fixture(scope="session")
def inpainted_box(pv, reader, inpaint):
    """SD Inpaint with a box mask on the XDMF volume: (proxy, output, errors)."""
    proxy = inpaint(reader)
    output, errors = pv_helpers.fetch(pv, proxy)
    return proxy, output, errors
