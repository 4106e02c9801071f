"""Support code shared by the SD ParaView plugins (not a plugin itself).

It lives in a sub-package so that ``PV_PLUGIN_PATH``, which loads every ``.py`` file of
the plugin directory, does not load it as a plugin. Each plugin file puts its own
directory on ``sys.path`` and imports it.

* :mod:`.arrays`: vtkImageData <-> voxel arrays in the sd-filters layout (numpy + VTK only).
* :mod:`.runner`: runs a task in ParaView's Python or in an external Python.
* :mod:`.algorithm`: the filters' base classes, their shared ServerManager properties and
  :func:`.algorithm.sd_proxy`, the decorator that registers a plugin's proxy.
"""
