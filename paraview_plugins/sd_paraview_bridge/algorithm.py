"""The base classes of the SD filters, the ServerManager properties they share, and
:func:`sd_proxy`, the class decorator that registers a plugin's proxy with them.

ParaView collects a proxy's properties from the decorated methods in the class's own
``__dict__``, so :func:`sd_proxy` installs the shared setters a plugin names on its class.
The setters store values in ``self._params``.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from paraview.util.vtkAlgorithm import (
    VTKPythonAlgorithmBase,
    smdomain,
    smhint,
    smproperty,
    smproxy,
)
from vtkmodules.vtkCommonCore import vtkCommand, vtkOutputWindow
from vtkmodules.vtkCommonDataModel import vtkImageData

from . import arrays, runner
from .arrays import LAUE_CHOICES, VoxelGrid

#: ``paraview_plugin_version`` of every SD plugin.
PLUGIN_VERSION = "0.1.0"
AXES = ("x", "y", "z")
#: Diffusion samplers, in the order of the Sampler property's values.
SAMPLERS = ("dpmsolver++", "ddim", "ddpm")

#: Defaults of the shared properties (also the XML defaults below).
COMMON_DEFAULTS: dict[str, Any] = {
    "phases_array": "Phases",
    "euler_angles_array": "EulerAngles",
    "phase1_structure": LAUE_CHOICES["Cubic_High"],
    "phase2_structure": LAUE_CHOICES["Hexagonal_High"],
    "model": "default",
    "execution": runner.AUTOMATIC,
    "external_python": "",
    "axis": AXES.index("z"),
    "seed": 0,
    "periodic": False,
    "batch_size": 16,
    "sampler": SAMPLERS.index("dpmsolver++"),
}

#: An InputArrayDomain for the Input property, listing cell and point arrays.
INPUT_ARRAY_DOMAIN = '<InputArrayDomain name="input_array"/>'
ARRAY_LIST_DOMAIN = """
<ArrayListDomain name="array_list" input_domain_name="input_array">
  <RequiredProperties><Property name="Input" function="Input"/></RequiredProperties>
</ArrayListDomain>"""


def enumeration_domain(labels: Sequence[str] | Mapping[int, str]) -> str:
    """EnumerationDomain XML: the property's values with the text the panel shows for each.

    Parameters
    ----------
    labels : sequence of str, or mapping of int to str
        Text of each value; a sequence numbers its texts from 0.
    """
    items = labels.items() if isinstance(labels, Mapping) else enumerate(labels)
    entries = "".join(f'<Entry text="{text}" value="{value}"/>' for value, text in items)
    return f'<EnumerationDomain name="enum">{entries}</EnumerationDomain>'


def property_group(label: str, *names: str) -> str:
    """PropertyGroup XML: the panel shows the properties ``names`` together under ``label``."""
    properties = "".join(f'\n  <Property name="{name}"/>' for name in names)
    return f'\n<PropertyGroup label="{label}">{properties}\n</PropertyGroup>'


_STRUCTURE_DOMAIN = enumeration_domain({v: k for k, v in LAUE_CHOICES.items()})
#: Property groups for the panel (see :func:`sd_proxy`).
MODEL_GROUP = property_group(
    "Model and execution", "Model", "Execution", "ExternalPython", "BatchSize"
)
ARRAYS_GROUP = property_group(
    "Input arrays",
    "PhasesArray",
    "EulerAnglesArray",
    "Phase1CrystalStructure",
    "Phase2CrystalStructure",
)


def _panel_groups(*groups: str) -> Callable:
    """A stand-in method that carries PropertyGroup XML (it is never called).

    ParaView resolves a group's properties only if they come before it in the proxy XML,
    and the decorators emit method properties sorted by class attribute name, so
    :func:`sd_proxy` installs it as ``panel_groups``, which sorts after every ``Set...``
    method.
    """

    @smproperty.xml("".join(groups))
    def panel_groups(self):
        raise NotImplementedError("holds ServerManager XML only")

    return panel_groups


class SDAlgorithm(VTKPythonAlgorithmBase):
    """Shared plumbing: parameters, running a task with progress and abort.

    Parameters
    ----------
    n_inputs : int
        0 for a source, 1 for a filter.
    defaults : dict
        Defaults of the plugin's own parameters (added to :data:`COMMON_DEFAULTS`).
    """

    def __init__(self, n_inputs: int, defaults: dict[str, Any]):
        super().__init__(nInputPorts=n_inputs, nOutputPorts=1, outputType="vtkImageData")
        self._params = {**COMMON_DEFAULTS, **defaults}

    def _set(self, key: str, value: Any) -> None:
        if self._params.get(key) != value:
            self._params[key] = value
            self.Modified()

    @property
    def crystal_structures(self) -> tuple[int, int]:
        """Laue ids of phases 1 and 2 from the properties."""
        return (int(self._params["phase1_structure"]), int(self._params["phase2_structure"]))

    @property
    def axis(self) -> str:
        """Slicing axis from the properties: x, y or z."""
        return AXES[int(self._params["axis"])]

    def RequestData(self, request, inInfo, outInfo):
        try:
            return self.execute(request, inInfo, outInfo)
        except (arrays.BridgeError, runner.TaskError) as error:
            self.report_error(str(error))
        except Exception:  # a bug: report its traceback, which would otherwise be lost
            self.report_error(traceback.format_exc())
        return 0

    def execute(self, request, inInfo, outInfo) -> int:
        """What RequestData does; errors raised here are reported by :meth:`report_error`."""
        raise NotImplementedError

    def report_error(self, message: str) -> None:
        """Show ``message`` in ParaView's Output Messages and fire an ErrorEvent with it.

        A Python exception escaping RequestData only makes the executive report a failed
        request, without the message.
        """
        label = type(self).__name__
        vtkOutputWindow.GetInstance().DisplayErrorText(f"{label}: {message.rstrip()}\n")
        self.InvokeEvent(vtkCommand.ErrorEvent, message)

    def write_result(
        self,
        output: vtkImageData,
        image: vtkImageData,
        result: VoxelGrid,
        association: str,
        scalars: dict[str, float],
    ) -> None:
        """Output = input plus the task's arrays, under the user's names for the phase and
        Euler angle arrays, and the ensemble and scalar results as field data."""
        names = {
            "Phases": self._params["phases_array"],
            "EulerAngles": self._params["euler_angles_array"],
        }
        output.ShallowCopy(image)
        arrays.add_arrays(output, {names.get(k, k): v for k, v in result.cell.items()}, association)
        arrays.set_field_data(output, result, scalars)

    def run_task(
        self, task: str, grid: VoxelGrid | None, args: dict[str, Any]
    ) -> tuple[VoxelGrid, dict[str, float]] | None:
        """Run ``task`` through :func:`runner.run_task` with this filter's model, execution
        settings, progress and abort flag.

        Returns
        -------
        (VoxelGrid, dict) or None
            None when the user aborted; the filter then leaves its output empty.
        """
        args = {"model": self._params["model"] or "default", **args}
        self.UpdateProgress(0.0)
        try:
            return runner.run_task(
                task,
                grid,
                args,
                execution=int(self._params["execution"]),
                python=str(self._params["external_python"]),
                progress=self.UpdateProgress,
                abort=lambda: bool(self.GetAbortExecute()),
            )
        except runner.TaskCancelled:
            return None


class SDVolumeFilter(SDAlgorithm):
    """A filter that runs :attr:`task` slice by slice on its input's voxels.

    The output is the input plus the task's arrays (see :meth:`SDAlgorithm.write_result`).
    Subclasses set the class attributes and add their task's own arguments in
    :meth:`task_args`.

    Parameters
    ----------
    defaults : dict
        Defaults of the plugin's own parameters (added to :data:`COMMON_DEFAULTS`).
    """

    #: Task name for :func:`runner.run_task`.
    task: str
    #: Whether the task reads the Euler Angles Array (else the phases only).
    reads_euler_angles = True
    #: The task's scalar results to output as field data: task name -> field array name.
    field_scalars: dict[str, str] = {}

    def __init__(self, defaults: dict[str, Any]):
        super().__init__(n_inputs=1, defaults=defaults)

    def task_args(self, image: vtkImageData, grid: VoxelGrid, association: str) -> dict[str, Any]:
        """The task's own arguments, beyond the slicing ones every task takes.

        An override may add arrays the task needs to ``grid`` (SD Inpaint's mask).
        """
        return {}

    def execute(self, request, inInfo, outInfo):
        image = vtkImageData.GetData(inInfo[0], 0)
        p = self._params
        euler_angles = p["euler_angles_array"] if self.reads_euler_angles else None
        grid, association = arrays.read_grid(
            image, p["phases_array"], euler_angles, self.crystal_structures
        )
        args = {"axis": self.axis, "batch_size": p["batch_size"], "periodic": p["periodic"]}
        args.update(self.task_args(image, grid, association))
        ran = self.run_task(self.task, grid, args)
        if ran is not None:
            result, scalars = ran
            fields = {name: scalars[key] for key, name in self.field_scalars.items()}
            output = vtkImageData.GetData(outInfo, 0)
            self.write_result(output, image, result, association, fields)
        return 1


@smproperty.stringvector(name="PhasesArray", label="Phases Array", default_values="Phases")
@smdomain.xml(ARRAY_LIST_DOMAIN)
@smhint.xml("<NoDefault/>")
def SetPhasesArray(self, name):
    """Cell (or point) array of phases, 1 or 2 (DREAM3D's Phases)."""
    self._set("phases_array", name or "")


@smproperty.stringvector(
    name="EulerAnglesArray", label="Euler Angles Array", default_values="EulerAngles"
)
@smdomain.xml(ARRAY_LIST_DOMAIN)
@smhint.xml("<NoDefault/>")
def SetEulerAnglesArray(self, name):
    """Cell (or point) array of Bunge Euler angles in radians, 3 components."""
    self._set("euler_angles_array", name or "")


@smproperty.intvector(
    name="Phase1CrystalStructure", label="Phase 1 Crystal Structure", default_values=1
)
@smdomain.xml(_STRUCTURE_DOMAIN)
def SetPhase1CrystalStructure(self, value):
    """Used unless the input has Ensemble:CrystalStructures field data (sd-filters .vti)."""
    self._set("phase1_structure", int(value))


@smproperty.intvector(
    name="Phase2CrystalStructure", label="Phase 2 Crystal Structure", default_values=0
)
@smdomain.xml(_STRUCTURE_DOMAIN)
def SetPhase2CrystalStructure(self, value):
    """Used unless the input has Ensemble:CrystalStructures field data (sd-filters .vti)."""
    self._set("phase2_structure", int(value))


@smproperty.stringvector(name="Model", default_values="default")
@smdomain.filelist()
@smhint.xml("<UseDirectoryName/><AcceptAnyFile/>")
def SetModel(self, value):
    """Pipeline folder (saved by MicrostructureSD.save_pretrained) or a bundled model name."""
    self._set("model", value or "")


@smproperty.intvector(
    name="Execution", default_values=runner.AUTOMATIC, panel_visibility="advanced"
)
@smdomain.xml(enumeration_domain(runner.EXECUTION_LABELS))
def SetExecution(self, value):
    """Automatic: in ParaView's Python when it can import dream3d_sd_filters and torch,
    else in the external Python."""
    self._set("execution", int(value))


@smproperty.stringvector(name="ExternalPython", label="External Python", default_values="")
def SetExternalPython(self, value):
    """Python executable with dream3d-sd-filters installed; empty: $SD_FILTERS_PYTHON.

    ParaView passes an empty string property as None.
    """
    self._set("external_python", value or "")


@smproperty.intvector(name="Axis", default_values=2)
@smdomain.xml(enumeration_domain(AXES))
def SetAxis(self, value):
    """Normal of the 2D slices the model works on."""
    self._set("axis", int(value))


@smproperty.intvector(name="Seed", default_values=0)
def SetSeed(self, value):
    """Random seed; the same seed gives the same result."""
    self._set("seed", int(value))


def periodic_setter(default: bool, documentation: str) -> Callable:
    """The Periodic property (circular padding) with a plugin's default and tooltip."""

    @smproperty.xml(
        '<IntVectorProperty name="Periodic" command="SetPeriodic" number_of_elements="1" '
        f'default_values="{int(default)}"><BooleanDomain name="bool"/>'
        f"<Documentation>{documentation}</Documentation></IntVectorProperty>"
    )
    def SetPeriodic(self, value):
        self._set("periodic", bool(value))

    return SetPeriodic


SetPeriodic = periodic_setter(False, "Circular padding: treat the slices as periodic.")


def steps_setter(default: int) -> Callable:
    """The Steps property (diffusion steps) with a plugin's default."""

    @smproperty.intvector(name="Steps", default_values=default)
    @smdomain.intrange(min=1, max=1000)
    def SetSteps(self, value):
        self._set("steps", int(value))

    return SetSteps


@smproperty.intvector(name="Sampler", default_values=COMMON_DEFAULTS["sampler"])
@smdomain.xml(enumeration_domain(SAMPLERS))
def SetSampler(self, value):
    self._set("sampler", int(value))


@smproperty.intvector(
    name="BatchSize", label="Batch Size", default_values=16, panel_visibility="advanced"
)
@smdomain.intrange(min=1, max=256)
def SetBatchSize(self, value):
    """Slices per network call (memory vs. speed)."""
    self._set("batch_size", int(value))


#: The properties of every filter that runs a model.
MODEL_PROPERTIES = (
    SetPhase1CrystalStructure,
    SetPhase2CrystalStructure,
    SetModel,
    SetExecution,
    SetExternalPython,
    SetBatchSize,
)


def sd_proxy(
    name: str,
    label: str,
    *,
    source: bool = False,
    input_arrays: bool = True,
    properties: Iterable[Callable] = (),
    groups: Iterable[str] = (),
) -> Callable[[type], Callable]:
    """Class decorator: register a plugin class as a proxy in the SD Filters menu.

    It composes ParaView's ``smproxy``, ``smhint``, ``smproperty`` and ``smdomain``
    decorators; a plugin still declares its own properties on its methods.

    Parameters
    ----------
    name, label : str
        Proxy name (the ``paraview.simple`` function) and menu label.
    source : bool
        A source without input; else a filter on one vtkImageData input.
    input_arrays : bool
        Give a filter's Input the InputArrayDomain that array-list properties (Phases
        Array...) need.
    properties : iterable of callable
        Shared setters of this module (e.g. :data:`MODEL_PROPERTIES`, :func:`SetAxis`),
        installed on the class under their names.
    groups : iterable of str
        PropertyGroup XML for the panel, e.g. from :func:`property_group`.
    """

    def register(cls: type) -> Callable:
        for setter in properties:
            setattr(cls, setter.__name__, setter)
        if groups:
            cls.panel_groups = _panel_groups(*groups)
        # Applied as a decorator stack is, bottom-up: each returns a wrapper function that
        # the next one sees through to the class.
        proxy: Callable = cls
        if not source:
            if input_arrays:
                proxy = smdomain.xml(INPUT_ARRAY_DOMAIN)(proxy)
            image_input = smdomain.datatype(
                dataTypes=["vtkImageData"], composite_data_supported=False
            )
            proxy = smproperty.input(name="Input", port_index=0)(image_input(proxy))
        proxy = smhint.xml('<ShowInMenu category="SD Filters"/>')(proxy)
        declare = smproxy.source if source else smproxy.filter
        return declare(name=name, label=label)(proxy)

    return register
