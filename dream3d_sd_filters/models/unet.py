"""The time-conditional latent UNet (paper eq. 10) and its DDPM noise schedule.

The UNet is a :class:`diffusers.UNet2DConditionModel` whose blocks use self-attention
only, so :meth:`diffusers.ControlNetModel.from_unet` can copy it for the ControlNets.
It still takes ``encoder_hidden_states`` (the class requires them); unconditional
models receive a zero context from :func:`null_context`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import InputError


@dataclass(frozen=True)
class UNetSettings:
    """Architecture of the latent UNet.

    Parameters
    ----------
    latent_channels : int
        Channels of the autoencoder latent.
    sample_size : int
        Latent size in pixels at training time (16 for 64x64 images at downsampling 4).
    block_out_channels : tuple of int
        Width of each resolution level.
    attention_levels : tuple of bool
        Self-attention at each level (same length as ``block_out_channels``).
    layers_per_block : int
        ResNet layers per level.
    attention_head_dim : int
        Channels per attention head.
    context_dim : int
        Width of the (unused) cross-attention context.
    norm_num_groups : int
        GroupNorm groups.
    padding : {"circular", "reflect", "zeros"}
        Convolution padding, see :mod:`dream3d_sd_filters.models.padding`.
    """

    latent_channels: int = 4
    sample_size: int = 16
    block_out_channels: tuple[int, ...] = (64, 128, 128)
    attention_levels: tuple[bool, ...] = (False, True, True)
    layers_per_block: int = 2
    attention_head_dim: int = 8
    context_dim: int = 32
    norm_num_groups: int = 32
    padding: str = "circular"

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "block_out_channels", tuple(int(c) for c in self.block_out_channels)
        )
        object.__setattr__(self, "attention_levels", tuple(bool(a) for a in self.attention_levels))
        if len(self.attention_levels) != len(self.block_out_channels):
            raise InputError(
                f"attention_levels has {len(self.attention_levels)} entries for "
                f"{len(self.block_out_channels)} levels"
            )
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise InputError(
                f"norm_num_groups {self.norm_num_groups} must divide every block width "
                f"{self.block_out_channels}"
            )


def build_unet(settings: UNetSettings):
    """Create a freshly initialised :class:`diffusers.UNet2DConditionModel`."""
    from diffusers import UNet2DConditionModel

    from .padding import set_padding_mode

    down = tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in settings.attention_levels)
    up = tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(settings.attention_levels))
    unet = UNet2DConditionModel(
        sample_size=settings.sample_size,
        in_channels=settings.latent_channels,
        out_channels=settings.latent_channels,
        down_block_types=down,
        up_block_types=up,
        mid_block_type="UNetMidBlock2D",
        block_out_channels=settings.block_out_channels,
        layers_per_block=settings.layers_per_block,
        cross_attention_dim=settings.context_dim,
        attention_head_dim=settings.attention_head_dim,
        norm_num_groups=settings.norm_num_groups,
    )
    return set_padding_mode(unet, settings.padding)


def null_context(unet, batch_size: int, device=None, dtype=None) -> torch.Tensor:
    """The zero ``encoder_hidden_states`` of an unconditional UNet, shape (B, 1, context_dim)."""
    return torch.zeros(
        batch_size,
        1,
        unet.config.cross_attention_dim,
        device=device if device is not None else unet.device,
        dtype=dtype if dtype is not None else unet.dtype,
    )


def build_noise_scheduler():
    """The training noise schedule: DDPM, 1000 steps, epsilon prediction (paper eq. 10)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=1000,
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        prediction_type="epsilon",
        clip_sample=False,
    )
