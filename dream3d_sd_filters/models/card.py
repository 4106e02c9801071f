"""Model cards: the JSON that travels with every checkpoint folder.

A checkpoint folder is a diffusers ``save_pretrained`` folder (``config.json`` plus
``diffusion_pytorch_model.safetensors``) with a ``model_card.json`` beside them that
says what the weights mean: channel order, orientation encoding, latent scaling,
training data, steps and measured metrics.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..io.atomic import atomic_output

CARD_NAME = "model_card.json"
CHANNELS = ("phase", "orientation_1", "orientation_2", "orientation_3")


def write_model_card(folder: str | os.PathLike, **fields: Any) -> Path:
    """Write ``model_card.json`` into a checkpoint folder (atomically)."""
    from .. import __version__

    card = {
        "format_version": 1,
        "package_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "channels": list(CHANNELS),
        **fields,
    }
    path = Path(folder) / CARD_NAME
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(card, indent=2, default=str))
    return path


def read_model_card(folder: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint's model card; InputError if the folder is not a checkpoint."""
    path = Path(folder) / CARD_NAME
    if not path.is_file():
        raise InputError(f"{str(folder)!r} is not a dream3d-sd-filters checkpoint (no {CARD_NAME})")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{path} is not valid JSON: {error}") from None


def check_compatible(
    card: dict[str, Any],
    *,
    encoding: str | None = None,
    channels: int | None = None,
    where: str = "checkpoint",
) -> None:
    """Raise InputError if a checkpoint's encoding or channel count differs from what is needed."""
    if encoding is not None and card.get("orientation_encoding") != encoding:
        raise InputError(
            f"{where} uses the {card.get('orientation_encoding')!r} orientation encoding, "
            f"but {encoding!r} is needed"
        )
    if channels is not None and len(card.get("channels", ())) != channels:
        raise InputError(
            f"{where} has {len(card.get('channels', ()))} image channels, but {channels} are needed"
        )
