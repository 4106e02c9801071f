"""SD Autoencode: encode and decode every slice; docs/filters/SDAutoencodeFilter.md."""

from __future__ import annotations

from .base import (
    CELL_ARRAYS,
    CellArraysFilter,
    Param,
    axis_param,
    model_params,
    output_name_params,
    output_names,
    periodic_param,
    selected_model,
    separator,
    task_settings,
    volume_params,
)


class AutoencodeFilter(CellArraysFilter):
    uuid = "8ede9039-aa9a-4c74-832f-a953ad0e33b0"
    name = "SDAutoencodeFilter"
    human_name = "SD Autoencode"
    description = (
        "Encodes every 2D slice of a two-phase volume with the model's autoencoder and "
        "decodes it again; writes the reconstruction (Phases, EulerAngles, FeatureIds, "
        "IPFColors) and the per-cell reconstruction error."
    )
    tags = ("python", "SD", "Autoencode", "Reconstruction", "Machine Learning")
    params = (
        *volume_params(),
        *model_params(seed=False, batch=32),
        axis_param(),
        periodic_param(False),
        separator("Output Data"),
        *output_name_params("Reconstructed", CELL_ARRAYS),
        Param(
            "reconstruction_error_array_name",
            "name",
            "Output Reconstruction Error",
            "Name of the created cell array with the mean absolute difference of the encoded "
            "channels (float32, 0 = perfect, at most 2).",
            "ReconstructionError",
        ),
    )

    def _names(self, args):
        return {
            **output_names(args, self.outputs),
            "ReconstructionError": args.name("reconstruction_error_array_name"),
        }

    def _run(self, args, data, volume, extra, progress):
        from ..tasks import reconstruct_volume

        result = reconstruct_volume(
            volume, selected_model(args), **task_settings(args), progress=progress
        )
        error = float(result.cell_data["ReconstructionError"].mean())
        return result.cell_data, f"mean reconstruction error {error:.4f} (0 = perfect, max 2)"
