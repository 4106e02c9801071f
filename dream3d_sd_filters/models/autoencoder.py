"""The KL autoencoder (paper eq. 9): 4 image channels in and out, 4 latent channels."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InputError


@dataclass(frozen=True)
class AutoencoderSettings:
    """Architecture of the autoencoder.

    Parameters
    ----------
    image_channels : int
        Channels of the image: phase plus three orientation channels.
    latent_channels : int
        Channels of the latent.
    downsampling : int
        Spatial reduction factor, a power of two (4: 64x64 images -> 16x16 latents).
    block_out_channels : tuple of int
        Width of each resolution level; ``log2(downsampling) + 1`` entries.
    layers_per_block : int
        ResNet layers per level.
    mid_block_attention : bool
        Self-attention at the lowest resolution.
    norm_num_groups : int
        GroupNorm groups; must divide every block width.
    sample_size : int
        Training image size in pixels (stored in the config, informative).
    padding : {"circular", "reflect", "zeros"}
        Convolution padding, see :mod:`dream3d_sd_filters.models.padding`.
    refiner_channels, refiner_blocks : int
        The full-resolution refiner after the decoder
        (:class:`~dream3d_sd_filters.models.refiner.BoundaryRefiner`); 0 blocks = none.
    """

    image_channels: int = 4
    latent_channels: int = 4
    downsampling: int = 4
    block_out_channels: tuple[int, ...] = (32, 64, 128)
    layers_per_block: int = 1
    mid_block_attention: bool = False
    norm_num_groups: int = 32
    sample_size: int = 64
    padding: str = "circular"
    refiner_channels: int = 32
    refiner_blocks: int = 0

    def __post_init__(self) -> None:
        levels = math.log2(self.downsampling)
        if self.downsampling < 1 or levels != int(levels):
            raise InputError(f"downsampling must be a power of two, got {self.downsampling}")
        object.__setattr__(
            self, "block_out_channels", tuple(int(c) for c in self.block_out_channels)
        )
        if len(self.block_out_channels) != int(levels) + 1:
            raise InputError(
                f"downsampling {self.downsampling} needs {int(levels) + 1} block_out_channels, "
                f"got {len(self.block_out_channels)}"
            )
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise InputError(
                f"norm_num_groups {self.norm_num_groups} must divide every block width "
                f"{self.block_out_channels}"
            )
        if self.refiner_blocks < 0 or self.refiner_channels < 1:
            raise InputError(
                f"refiner_blocks must be >= 0 and refiner_channels >= 1, got "
                f"{self.refiner_blocks} and {self.refiner_channels}"
            )
        if self.refiner_blocks and self.refiner_channels % refiner_groups(
            self.norm_num_groups, self.refiner_channels
        ):
            raise InputError(
                f"norm_num_groups {self.norm_num_groups} must divide refiner_channels "
                f"{self.refiner_channels}"
            )


def refiner_groups(norm_num_groups: int, refiner_channels: int) -> int:
    """GroupNorm groups of a refiner: the autoencoder's, or one per channel if it is narrower."""
    return min(norm_num_groups, refiner_channels)


def build_autoencoder(settings: AutoencoderSettings, scaling_factor: float = 1.0):
    """Create a freshly initialised autoencoder (a :class:`diffusers.AutoencoderKL`).

    Parameters
    ----------
    settings : AutoencoderSettings
        The architecture.
    scaling_factor : float
        Latent scaling (1 / std of latents); measured after training.

    Returns
    -------
    MicrostructureAutoencoderKL
    """
    from .padding import set_padding_mode
    from .refiner import MicrostructureAutoencoderKL

    n = len(settings.block_out_channels)
    vae = MicrostructureAutoencoderKL(
        in_channels=settings.image_channels,
        out_channels=settings.image_channels,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=settings.block_out_channels,
        layers_per_block=settings.layers_per_block,
        latent_channels=settings.latent_channels,
        norm_num_groups=settings.norm_num_groups,
        sample_size=settings.sample_size,
        scaling_factor=scaling_factor,
        mid_block_add_attention=settings.mid_block_attention,
        force_upcast=False,
        refiner_channels=settings.refiner_channels,
        refiner_blocks=settings.refiner_blocks,
    )
    return set_padding_mode(vae, settings.padding)
