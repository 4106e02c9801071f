"""Lets Debian's ParaView 5.11 load Python plugins under Python 3.11 (docs/paraview.md).

Its ``paraview.detail.pythonalgorithm`` imports ``inspect.getargspec``, which Python 3.11
removed. Python imports ``sitecustomize`` at start-up from ``PYTHONPATH``, before any
plugin loads::

    PYTHONPATH=paraview_plugins/debian_shim PV_PLUGIN_PATH=paraview_plugins paraview

It shadows Debian's own sitecustomize (an apport crash hook), which is harmless.
"""

import inspect

if not hasattr(inspect, "getargspec"):
    inspect.getargspec = inspect.getfullargspec
