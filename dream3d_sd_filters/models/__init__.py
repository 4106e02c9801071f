"""Networks: the 4-channel autoencoder, the latent UNet, the noise schedule, the discriminator.

Models, schedulers and pipelines are kept apart, as in diffusers: this package only
builds and loads networks; sampling lives in :mod:`dream3d_sd_filters.pipelines`.
"""

from .autoencoder import AutoencoderSettings, build_autoencoder
from .discriminator import PatchDiscriminator
from .unet import UNetSettings, build_noise_scheduler, build_unet

__all__ = [
    "AutoencoderSettings",
    "PatchDiscriminator",
    "UNetSettings",
    "build_autoencoder",
    "build_noise_scheduler",
    "build_unet",
]
