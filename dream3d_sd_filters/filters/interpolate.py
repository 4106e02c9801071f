"""SD Interpolate: a gamma x t grid between two slices; docs/filters/SDInterpolateFilter.md."""

from __future__ import annotations

import numpy as np

from .base import (
    ARRAY_SHAPE_ERROR,
    Args,
    DataAccess,
    FilterError,
    Param,
    RunResult,
    SDFilter,
    VolumeInputs,
    axis_dims,
    axis_param,
    ensemble_name_param,
    euler_param,
    geometry_param,
    model_params,
    new_geometry_params,
    new_volume,
    new_volume_values,
    periodic_param,
    phases_param,
    read_volume,
    selected_model,
    separator,
    slice_frame,
    structures_param,
    task_settings,
    volume_inputs,
)


def _end_params(which: str, index: int) -> list[Param]:
    """The parameters selecting one end, ``which`` = "first" or "second"."""
    label = which.capitalize()
    return [
        separator(f"{label} Microstructure"),
        geometry_param(f"{which}_image_geometry_path", label),
        phases_param(f"{which}_phases_array_path"),
        euler_param(f"{which}_euler_angles_array_path"),
        Param(
            f"{which}_slice_index",
            "int",
            f"{label} Slice Index",
            "Slice along the slicing axis; negative counts from the end.",
            index,
        ),
    ]


class InterpolateFilter(SDFilter):
    uuid = "730b2b82-9576-41ad-8d9e-db25a508301f"
    name = "SDInterpolateFilter"
    human_name = "SD Interpolate"
    description = (
        "Interpolates between two 2D microstructures (a slice of each of two image "
        "geometries, or two slices of one) in the model's latent space, on a grid of "
        "mixing weights (gamma) and noise levels (timestep t); writes the grid as the "
        "z-slices of a new image geometry, slice k = t index * number of gammas + gamma index."
    )
    tags = ("python", "SD", "Interpolate", "Morph", "Machine Learning")
    params = (
        *_end_params("first", 0),
        *_end_params("second", -1),
        structures_param(),
        axis_param(),
        *model_params(steps=25, batch=None),
        Param(
            "num_gammas",
            "int",
            "Number of Mixing Weights",
            "gamma runs evenly from 0 (first) to 1 (second) in this many values (>= 2).",
            5,
        ),
        Param(
            "num_timesteps",
            "int",
            "Number of Noise Levels",
            "t runs evenly from 0 (plain latent mixing) to Maximum Timestep.",
            4,
        ),
        Param(
            "max_timestep",
            "int",
            "Maximum Timestep",
            "Highest noise level t (of the 1000 training timesteps); higher = the "
            "intermediate microstructures look more realistic but follow the ends less.",
            750,
        ),
        periodic_param(False),
        *new_geometry_params("Interpolated"),
        ensemble_name_param(),
    )

    def _side(
        self, args: Args, data: DataAccess, which: str, axis: str
    ) -> tuple[VolumeInputs, int, tuple[int, int]]:
        """One end: its checked inputs, slice index (from 0) and slice (rows, columns)."""
        inputs = volume_inputs(
            args,
            data,
            f"{which}_image_geometry_path",
            f"{which}_phases_array_path",
            f"{which}_euler_angles_array_path",
        )
        n, height, width = axis_dims(inputs.geometry.dims, axis)
        index = args.int(f"{which}_slice_index")
        if not -n <= index < n:
            raise args.error(
                f"{which}_slice_index",
                f"is {index} but {inputs.geometry_path!r} has {n} slices along {axis}",
            )
        return inputs, index % n, (height, width)

    def _grid(self, args: Args) -> tuple[list[float], list[int]]:
        n_gammas = args.int("num_gammas", 2)
        n_times = args.int("num_timesteps", 1)
        top = args.int("max_timestep", 0)
        if top >= 1000:
            raise args.error("max_timestep", f"must be below 1000, got {top}")
        gammas = np.linspace(0.0, 1.0, n_gammas).tolist()
        timesteps = np.unique(np.rint(np.linspace(0, top, n_times)).astype(int)).tolist()
        return gammas, timesteps

    def _setup(self, args, data):
        axis = args.choice("slicing_axis")
        first, first_index, size = self._side(args, data, "first", axis)
        second, second_index, second_size = self._side(args, data, "second", axis)
        if size != second_size:
            raise FilterError(
                ARRAY_SHAPE_ERROR,
                f"the two slices differ in size: {size} and {second_size} (rows, columns)",
            )
        task_settings(args)
        gammas, timesteps = self._grid(args)
        height, width = size
        outputs, where = new_volume(
            args,
            (width, height, len(gammas) * len(timesteps)),
            slice_frame(first.geometry.spacing, axis),
            (0.0, 0.0, 0.0),
        )
        return outputs, (first, first_index, second, second_index, where)

    def _compute(self, args, data, state, progress):
        from ..tasks import interpolate_volume

        first, first_index, second, second_index, where = state
        gammas, timesteps = self._grid(args)
        volume = interpolate_volume(
            read_volume(data, first),
            read_volume(data, second),
            selected_model(args),
            first_index=first_index,
            second_index=second_index,
            gammas=gammas,
            timesteps=timesteps,
            **task_settings(args),
            progress=progress,
        )
        layout = ", ".join(
            f"t={t}: slices {i * len(gammas)}-{(i + 1) * len(gammas) - 1}"
            for i, t in enumerate(timesteps)
        )
        gamma_text = ", ".join(f"{g:g}" for g in gammas)
        return RunResult(
            new_volume_values(where, volume), [f"gammas {gamma_text} within each block; {layout}"]
        )
