"""Open the demo volume in ParaView, inpaint a box with SD Inpaint and save a screenshot.

Run with ParaView's Python (from the repository root)::

    pvpython examples/paraview/inpaint_demo.py [demo_output/demo.xdmf] [--model default]
        [--python .venv/bin/python] [--screenshot demo_output/paraview_inpaint.png]

The box is the middle third of the volume in x and y, through all z-slices. Debian's
``pvpython`` cannot import torch, so the task runs in the external Python (``--python``,
else ``$SD_FILTERS_PYTHON``, else the repository's ``.venv``); see docs/paraview.md.
The screenshot shows the input (left) and the result with the box outlined (right),
coloured by IPFColors.
"""

from __future__ import annotations

import inspect

# Debian's ParaView 5.11 needs this before any Python plugin loads (Python 3.11 removed it).
if not hasattr(inspect, "getargspec"):
    inspect.getargspec = inspect.getfullargspec

import argparse  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "paraview_plugins" / "sd_inpaint_plugin.py"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("xdmf", nargs="?", default="demo_output/demo.xdmf")
    parser.add_argument("--model", default="default", help="pipeline folder or bundled name")
    default_python = os.environ.get("SD_FILTERS_PYTHON") or str(REPO / ".venv" / "bin" / "python")
    parser.add_argument("--python", default=default_python, help="external Python")
    parser.add_argument("--screenshot", default="demo_output/paraview_inpaint.png")
    parser.add_argument("--steps", type=int, default=25, help="denoising steps")
    return parser.parse_args(argv)


def middle_box(bounds: tuple[float, ...]) -> tuple[list[float], list[float]]:
    """Position and scale of the unit box covering the middle third in x and y, all of z."""
    (x0, x1), (y0, y1), (z0, z1) = bounds[0:2], bounds[2:4], bounds[4:6]
    position = [x0 + (x1 - x0) / 3, y0 + (y1 - y0) / 3, z0]
    scale = [(x1 - x0) / 3, (y1 - y0) / 3, z1 - z0]
    return position, scale


def show_ipf(simple, source, view):  # ParaView module and proxies
    """Show ``source`` as a surface coloured by its IPFColors; returns the display."""
    display = simple.Show(source, view)
    display.SetRepresentationType("Surface")
    simple.ColorBy(display, ("CELLS", "IPFColors"))
    display.MapScalars = 0  # IPFColors are RGB bytes: show them as they are
    return display


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    from paraview import simple

    simple.LoadPlugin(str(PLUGIN))
    reader = simple.OpenDataFile(args.xdmf)
    if reader is None:
        print(f"Error: ParaView cannot open {args.xdmf}", file=sys.stderr)
        return 2
    reader.UpdatePipeline()
    position, scale = middle_box(reader.GetDataInformation().GetBounds())
    inpaint = simple.SDInpaint(
        Input=reader,
        MaskSource="Box",
        BoxPosition=position,
        BoxScale=scale,
        Model=args.model,
        ExternalPython=args.python,
        Steps=args.steps,
    )
    inpaint.UpdatePipeline()
    if inpaint.GetDataInformation().GetNumberOfCells() == 0:
        print("Error: SD Inpaint failed; see the messages above", file=sys.stderr)
        return 1

    # One view (two render windows in one pvpython process can fail with GLXBadContext
    # under Xvfb): the input on the left, the result on the right with the box outlined.
    view = simple.CreateView("RenderView")
    width = reader.GetDataInformation().GetBounds()[1] - reader.GetDataInformation().GetBounds()[0]
    shift = [-1.15 * width, 0.0, 0.0]
    show_ipf(simple, reader, view).Position = shift
    show_ipf(simple, inpaint, view)
    box = simple.Box(
        XLength=scale[0],
        YLength=scale[1],
        ZLength=scale[2],
        Center=[p + s / 2 for p, s in zip(position, scale)],
    )
    outline = simple.Show(box, view)
    outline.SetRepresentationType("Wireframe")
    outline.AmbientColor = outline.DiffuseColor = [1.0, 1.0, 1.0]
    outline.LineWidth = 2.0
    view.OrientationAxesVisibility = 1
    view.CameraPosition = [0.3, -1.0, 1.1]
    view.CameraFocalPoint = [0.0, 0.0, 0.0]
    view.CameraViewUp = [0.0, 0.0, 1.0]
    view.ResetCamera()
    view.GetActiveCamera().Dolly(1.6)
    Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
    simple.SaveScreenshot(args.screenshot, view, ImageResolution=[1000, 420])
    print(f"wrote {args.screenshot}")
    return 0


if __name__ == "__main__":
    status = main(sys.argv[1:])
    # Raising SystemExit after rendering makes pvpython tear the render window down in an
    # order that Xvfb answers with GLXBadContext; only failures (before any view) exit early.
    if status:
        sys.exit(status)
