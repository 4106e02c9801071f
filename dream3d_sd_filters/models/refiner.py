"""The autoencoder with a full-resolution refinement stage after its decoder.

Microstructure images are piecewise constant: almost all of a decoder's error sits on
the pixels next to grain and phase boundaries, which a narrow decoder blurs (see
:func:`~dream3d_sd_filters.metrics.image.boundary_error_split`). The refiner is a small
residual CNN at image resolution that sees the decoded image and the latent and adds a
correction; its last convolution starts at zero, so a refiner added to a trained
autoencoder starts as the identity and can be trained alone (the encoder, the latent
space and every diffusion model on it stay as they are).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL
from diffusers.configuration_utils import register_to_config
from diffusers.models.autoencoders.vae import DecoderOutput
from torch import nn

from .autoencoder import refiner_groups


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, channels)
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.silu(self.norm2(self.conv1(F.silu(self.norm1(x))))))


class BoundaryRefiner(nn.Module):
    """Residual correction of a decoded image from the image and its latent.

    Parameters
    ----------
    image_channels, latent_channels : int
    channels : int
        Width of the residual blocks.
    blocks : int
        Residual blocks (two 3x3 convolutions each) at image resolution.
    groups : int
        GroupNorm groups; must divide ``channels``.
    """

    def __init__(
        self, image_channels: int, latent_channels: int, channels: int, blocks: int, groups: int
    ) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(image_channels + latent_channels, channels, 3, padding=1)
        self.blocks = nn.Sequential(*(_ResidualBlock(channels, groups) for _ in range(blocks)))
        self.norm_out = nn.GroupNorm(groups, channels)
        self.conv_out = nn.Conv2d(channels, image_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, image: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
        """``image`` (N, C, H, W) plus a correction; ``latent`` (N, L, h, w) is upsampled to H x W."""
        upsampled = F.interpolate(latent.to(image.dtype), size=image.shape[-2:], mode="nearest")
        features = self.blocks(self.conv_in(torch.cat([image, upsampled], dim=1)))
        return image + self.conv_out(F.silu(self.norm_out(features)))


class MicrostructureAutoencoderKL(AutoencoderKL):
    """:class:`diffusers.AutoencoderKL` whose decoder ends in a :class:`BoundaryRefiner`.

    All arguments but the last two are those of ``AutoencoderKL``. With
    ``refiner_blocks=0`` (the default) it is a plain ``AutoencoderKL``, so folders saved
    by either class load into this one.

    Parameters
    ----------
    refiner_channels : int
        Width of the refiner.
    refiner_blocks : int
        Residual blocks of the refiner; 0 = no refiner.
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 3,
        down_block_types: tuple[str, ...] = ("DownEncoderBlock2D",),
        up_block_types: tuple[str, ...] = ("UpDecoderBlock2D",),
        block_out_channels: tuple[int, ...] = (64,),
        layers_per_block: int = 1,
        act_fn: str = "silu",
        latent_channels: int = 4,
        norm_num_groups: int = 32,
        sample_size: int = 32,
        scaling_factor: float = 0.18215,
        shift_factor: float | None = None,
        latents_mean: tuple[float, ...] | None = None,
        latents_std: tuple[float, ...] | None = None,
        force_upcast: bool = True,
        use_quant_conv: bool = True,
        use_post_quant_conv: bool = True,
        mid_block_add_attention: bool = True,
        refiner_channels: int = 32,
        refiner_blocks: int = 0,
    ) -> None:
        super().__init__(
            in_channels=in_channels,
            out_channels=out_channels,
            down_block_types=down_block_types,
            up_block_types=up_block_types,
            block_out_channels=block_out_channels,
            layers_per_block=layers_per_block,
            act_fn=act_fn,
            latent_channels=latent_channels,
            norm_num_groups=norm_num_groups,
            sample_size=sample_size,
            scaling_factor=scaling_factor,
            shift_factor=shift_factor,
            latents_mean=latents_mean,
            latents_std=latents_std,
            force_upcast=force_upcast,
            use_quant_conv=use_quant_conv,
            use_post_quant_conv=use_post_quant_conv,
            mid_block_add_attention=mid_block_add_attention,
        )
        self.refiner = (
            BoundaryRefiner(
                out_channels,
                latent_channels,
                refiner_channels,
                refiner_blocks,
                refiner_groups(norm_num_groups, refiner_channels),
            )
            if refiner_blocks
            else None
        )

    def _decode(self, z: torch.Tensor, return_dict: bool = True):
        decoded = super()._decode(z, return_dict=True).sample
        if self.refiner is not None:
            decoded = self.refiner(decoded, z)
        if not return_dict:
            return (decoded,)
        return DecoderOutput(sample=decoded)
