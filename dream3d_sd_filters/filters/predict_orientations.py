"""SD Predict Grain Orientations: grains for a phase map; docs/filters/SDPredictGrainOrientationsFilter.md."""

from __future__ import annotations

from .base import (
    CellArraysFilter,
    Param,
    axis_param,
    model_params,
    output_name_params,
    periodic_param,
    require_controlnet,
    selected_model,
    separator,
    task_settings,
    volume_params,
)


class PredictOrientationsFilter(CellArraysFilter):
    uuid = "3ba03cad-fd4c-4fde-84b3-2f4bd470ac7e"
    name = "SDPredictGrainOrientationsFilter"
    human_name = "SD Predict Grain Orientations"
    description = (
        "Predicts grains and their orientations for a given phase map with the model's "
        "orientation ControlNet, slice by slice; writes EulerAngles, IPFColors and "
        "FeatureIds (the Phases are kept as given)."
    )
    tags = ("python", "SD", "Orientations", "ControlNet", "Machine Learning")
    outputs = ("EulerAngles", "FeatureIds", "IPFColors")
    euler = False
    params = (
        *volume_params(euler=False),
        *model_params(sampler=True, steps=25),
        axis_param(),
        Param(
            "guidance_scale",
            "float",
            "Guidance Scale",
            "Weight of the phase map (classifier-free guidance; 1 = plain conditioning).",
            # microstructure_sd.ORIENTATION_GUIDANCE_SCALE; filters load without torch.
            5.0,
        ),
        periodic_param(False),
        separator("Output Data"),
        *output_name_params("Predicted", outputs),
    )

    def _check(self, args, data, inputs):
        require_controlnet(args.string("checkpoint"), "orientation", self.human_name)

    def _run(self, args, data, volume, extra, progress):
        from ..tasks import predict_orientations

        result = predict_orientations(
            volume, selected_model(args), **task_settings(args), progress=progress
        )
        return result.volume.cell_data, (
            "the model's phase channel agrees with the given phases in "
            f"{result.phase_agreement:.1%} of cells"
        )
