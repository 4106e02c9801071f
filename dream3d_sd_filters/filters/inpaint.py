"""SD Inpaint: fill masked cells slice by slice; docs/filters/SDInpaintFilter.md."""

from __future__ import annotations

from .base import (
    CELL_ARRAYS,
    INPAINT_MODE_CHOICES,
    MASK,
    TASK_ERROR,
    CellArraysFilter,
    FilterError,
    Param,
    axis_param,
    model_params,
    output_name_params,
    periodic_param,
    selected_cell_array,
    selected_model,
    separator,
    task_settings,
    volume_params,
)


class InpaintFilter(CellArraysFilter):
    uuid = "93a30d07-6331-40d8-a5ea-3eda8e866d4e"
    name = "SDInpaintFilter"
    human_name = "SD Inpaint"
    description = (
        "Fills the cells marked by a mask array with microstructure that fits the rest of "
        "each slice (RePaint diffusion inpainting); writes new Phases, EulerAngles, "
        "IPFColors (the unmasked cells copied) and FeatureIds (re-segmented)."
    )
    tags = ("python", "SD", "Inpaint", "Fill", "Repair", "Machine Learning")
    params = (
        *volume_params(),
        Param(
            "mask_array_path",
            "array",
            "Mask",
            "Cells to fill: true / 1 where the data is missing or bad (bool or uint8, "
            "1 component).",
            "DataContainer/Cell Data/Mask",
            dtypes=MASK,
            components=(1,),
        ),
        *model_params(steps=50),
        axis_param(),
        Param(
            "inpainting_mode",
            "choice",
            "Mode",
            "consistent: each slice starts from its inpainted neighbour, so the filled "
            "region stays continuous along the slicing axis; independent: every slice from "
            "fresh noise.",
            0,
            choices=INPAINT_MODE_CHOICES,
        ),
        Param("jump_length", "int", "Jump Length", "RePaint resampling jump (steps).", 10),
        Param("jump_n_sample", "int", "Jump Repeats", "RePaint resampling repeats.", 3),
        Param(
            "restart_fraction",
            "float",
            "Restart Fraction",
            "consistent mode: how far into the schedule a slice starts from its neighbour, "
            "in (0, 1); higher = closer to the neighbour.",
            # volume_tasks.CONSISTENT_RESTART_FRACTION; filters load without torch.
            0.9,
        ),
        periodic_param(False),
        separator("Output Data"),
        *output_name_params("Inpainted", CELL_ARRAYS),
    )

    def _inpainting_settings(self, args) -> dict:
        """The task arguments of this filter's own parameters (checked)."""
        fraction = args.float("restart_fraction", 0.0, 1.0)
        if not 0 < fraction < 1:
            raise args.error(
                "restart_fraction", f"must lie strictly between 0 and 1, got {fraction}"
            )
        return {
            "mode": args.choice("inpainting_mode"),
            "jump_length": args.int("jump_length", 1),
            "jump_n_sample": args.int("jump_n_sample", 1),
            "restart_fraction": fraction,
        }

    def _check(self, args, data, inputs):
        mask, _ = selected_cell_array(
            args, data, "mask_array_path", inputs.geometry_path, inputs.geometry
        )
        self._inpainting_settings(args)
        return mask

    def _run(self, args, data, volume, mask_path, progress):
        from ..orientations import ipf_colors
        from ..tasks import inpaint_volume

        mask = data.read(mask_path)
        if mask.dtype != bool and mask.size and (mask.min() < 0 or mask.max() > 1):
            raise FilterError(
                TASK_ERROR, f"mask {mask_path!r} must hold 0 or 1, found {mask.min()}..{mask.max()}"
            )
        result = inpaint_volume(
            volume,
            mask.astype(bool),
            selected_model(args),
            **task_settings(args),
            **self._inpainting_settings(args),
            progress=progress,
        )
        arrays = dict(result.volume.cell_data)
        # Colours of every cell from its (kept or filled) orientation, so the output is
        # consistent whatever IPFColors the input held.
        arrays["IPFColors"] = ipf_colors(
            arrays["EulerAngles"], arrays["Phases"][..., 0], volume.crystal_structures
        )
        filled = int(mask.astype(bool).sum())
        return arrays, (
            f"filled {filled} of {mask.size} cells; slice continuity "
            f"{result.continuity:.3f} (1 = as continuous as the known data)"
        )
