"""ControlNets on the latent UNet (paper eqs. 11-13).

A ControlNet is a trainable copy of the UNet's encoder, fed a condition image through a
small convolutional embedding and joined to the frozen UNet by zero-initialised
convolutions (diffusers :class:`~diffusers.ControlNetModel`, Zhang & Agrawala 2023).

Two tasks:

``"orientation"``
    The condition is a phase map at image resolution (-1 = phase 1, +1 = phase 2); the
    model generates the full 4-channel microstructure, i.e. grain orientations that fit it.
``"property"``
    The condition is a vector of ``k`` normalised properties (e.g. coercivity), fed as
    ``k`` constant maps: the paper's "numerical or vector-based property inputs".

Every condition carries one extra *presence* channel (1 = given, 0 = dropped). Training
drops the condition (all channels zero) for a fraction of samples, which gives the null
condition that classifier-free guidance contrasts against at sampling time.
"""

from __future__ import annotations

import math

import torch

from ..errors import InputError
from .padding import set_padding_mode

CONTROL_TASKS = ("orientation", "property")


def condition_channels(task: str, n_properties: int = 1) -> int:
    """Channels of the conditioning image: the condition plus the presence channel."""
    if task not in CONTROL_TASKS:
        raise InputError(f"unknown ControlNet task {task!r}; use one of {CONTROL_TASKS}")
    return (1 if task == "orientation" else n_properties) + 1


def build_controlnet(
    unet, task: str, downsampling: int, n_properties: int = 1, padding: str = "circular"
):
    """A ControlNet copied from ``unet`` (weights included), for images ``downsampling`` x larger.

    Parameters
    ----------
    unet : diffusers.UNet2DConditionModel
        The trained base UNet; its encoder weights initialise the ControlNet.
    task : {"orientation", "property"}
    downsampling : int
        Image-to-latent factor of the autoencoder; the condition embedding has
        ``log2(downsampling)`` stride-2 convolutions so conditions are given at image size.
    n_properties : int
        Length of the property vector (``"property"`` task).
    padding : {"circular", "reflect", "zeros"}

    Returns
    -------
    diffusers.ControlNetModel
    """
    from diffusers import ControlNetModel

    levels = int(math.log2(downsampling))
    widths = tuple(16 * 2**i for i in range(levels + 1))
    controlnet = ControlNetModel.from_unet(
        unet,
        conditioning_embedding_out_channels=widths,
        conditioning_channels=condition_channels(task, n_properties),
    )
    return set_padding_mode(controlnet, padding)


def make_condition(
    task: str, values: torch.Tensor, height: int, width: int, present: torch.Tensor | None = None
) -> torch.Tensor:
    """Build the conditioning image, shape (B, C + 1, H, W).

    Parameters
    ----------
    task : {"orientation", "property"}
    values : Tensor
        Orientation: phase maps (B, H, W) in {-1, +1}. Property: normalised property
        vectors (B, k).
    height, width : int
        Image size in pixels.
    present : Tensor of bool, shape (B,), optional
        False replaces that sample's condition by the null condition (all zeros,
        presence 0), as in classifier-free guidance training. Default: all present.
    """
    batch = values.shape[0]
    if task == "orientation":
        maps = values.float().reshape(batch, 1, height, width)
    else:
        maps = values.float().reshape(batch, -1, 1, 1).expand(-1, -1, height, width)
    keep = torch.ones(batch, dtype=torch.bool) if present is None else present.bool().cpu()
    keep = keep.to(maps.device).view(-1, 1, 1, 1).to(maps.dtype)
    return torch.cat([maps * keep, keep.expand(-1, 1, height, width)], dim=1)
