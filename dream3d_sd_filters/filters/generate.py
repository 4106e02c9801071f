"""SD Generate Microstructure: new microstructures from noise; docs/filters/SDGenerateMicrostructureFilter.md."""

from __future__ import annotations

import re

from ..volume import LAUE_IDS
from .base import (
    CRYSTAL_STRUCTURE_CHOICES,
    PARAMETER_ERROR,
    FilterError,
    Param,
    RunResult,
    SDFilter,
    ensemble_name_param,
    model_card,
    model_params,
    new_geometry_params,
    new_volume,
    new_volume_values,
    periodic_param,
    require_controlnet,
    require_surrogates,
    selected_model,
    separator,
    task_settings,
)


class GenerateFilter(SDFilter):
    uuid = "e21d3263-3620-4c81-a923-3d2f588e34a2"
    name = "SDGenerateMicrostructureFilter"
    human_name = "SD Generate Microstructure"
    description = (
        "Generates new two-phase microstructures with the diffusion model, one per z-slice "
        "of a new image geometry (Phases, EulerAngles, FeatureIds, IPFColors and a "
        "CrystalStructures/PhaseTypes ensemble); unconditional, or to a property target "
        "when the checkpoint has the property ControlNet."
    )
    tags = ("python", "SD", "Generate", "Synthetic", "Machine Learning")
    params = (
        separator("Geometry"),
        Param(
            "num_slices",
            "int",
            "Number of Microstructures",
            "How many independent 2D microstructures to generate (the z size).",
            1,
        ),
        Param(
            "image_size",
            "int_vector",
            "Image Size",
            "Width (X) and height (Y) in cells, multiples of the model's downsampling "
            "factor; 0 = the model's training size.",
            [0, 0],
            names=("Width (X)", "Height (Y)"),
        ),
        *(
            Param(
                key,
                "float_vector",
                key.title(),
                f"{what} (X, Y, Z) of the new geometry.",
                [default] * 3,
                names=("X", "Y", "Z"),
            )
            for key, what, default in (("spacing", "Cell size", 1.0), ("origin", "Origin", 0.0))
        ),
        *(
            Param(
                f"phase_{phase}_crystal_structure",
                "choice",
                f"Phase {phase} Crystal Structure",
                f"Laue class of phase {phase}.",
                LAUE_IDS[laue],
                choices=CRYSTAL_STRUCTURE_CHOICES,
            )
            for phase, laue in ((1, "Cubic_High"), (2, "Hexagonal_High"))
        ),
        *model_params(sampler=True, steps=25),
        periodic_param(True),
        separator("Property Target"),
        Param(
            "property_target",
            "string",
            "Property Target",
            "Empty = unconditional. Otherwise 'name=value' pairs separated by commas, e.g. "
            "'coercivity=2.0' (units of the model card); needs a checkpoint with the "
            "property ControlNet (the bundled model has one for coercivity, in tesla).",
            "",
        ),
        Param(
            "guidance_scale",
            "float",
            "Guidance Scale",
            "Weight of the property target (classifier-free guidance; 1 = plain conditioning).",
            2.0,
        ),
        Param(
            "surrogate_guidance_scale",
            "float",
            "Surrogate Guidance Scale",
            "How strongly the property surrogate steers each denoising step toward the "
            "target (0 = off; > 0 needs a surrogate for each target property).",
            8.0,
        ),
        *new_geometry_params("Generated"),
        ensemble_name_param(),
    )

    def _setup(self, args, data):
        checkpoint = args.string("checkpoint")
        card = model_card(checkpoint)
        n = args.int("num_slices", 1)
        width, height = args.vector("image_size", int)
        if width < 0 or height < 0:
            raise args.error("image_size", f"must not be negative, got {[width, height]}")
        trained = int(card.get("image_size", 0))
        width, height = width or trained, height or trained
        if width < 1 or height < 1:
            raise args.error("image_size", "is 0 but the model card gives no training size")
        spacing = args.vector("spacing", float)
        if min(spacing) <= 0:
            raise args.error("spacing", f"must be positive, got {list(spacing)}")
        origin = args.vector("origin", float)
        target = parse_target(args.string("property_target"))
        if target is not None:
            require_controlnet(checkpoint, "property", "a property target")
            if args.float("surrogate_guidance_scale", 0.0) > 0:
                require_surrogates(checkpoint, target, "Surrogate Guidance Scale > 0")
        task_settings(args)
        self._crystal_structures(args)
        outputs, where = new_volume(args, (width, height, n), spacing, origin)
        return outputs, (where, (height, width), target)

    def _crystal_structures(self, args) -> tuple[int, int]:
        return (
            LAUE_IDS[args.choice("phase_1_crystal_structure")],
            LAUE_IDS[args.choice("phase_2_crystal_structure")],
        )

    def _compute(self, args, data, state, progress):
        from ..tasks import generate_volume

        where, size, target = state
        volume = generate_volume(
            selected_model(args),
            args.int("num_slices", 1),
            size=size,
            crystal_structures=self._crystal_structures(args),
            spacing=args.vector("spacing", float),
            target=target,
            **task_settings(args),
            progress=progress,
        )
        return RunResult(
            new_volume_values(where, volume), [f"generated {volume.dims[2]} microstructure(s)"]
        )


def parse_target(text: str) -> dict[str, float] | None:
    """``"a=1, b=2.5"`` -> ``{"a": 1.0, "b": 2.5}``; ``""`` -> None."""
    if not text.strip():
        return None
    target = {}
    for item in text.split(","):
        match = re.fullmatch(r"\s*([A-Za-z_][\w ]*?)\s*=\s*(\S+)\s*", item)
        try:
            target[match.group(1)] = float(match.group(2))  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            raise FilterError(
                PARAMETER_ERROR,
                f"Property Target (property_target) must be 'name=value' pairs separated by "
                f"commas, e.g. 'coercivity=2.0'; cannot read {item.strip()!r}",
            ) from None
    return target
