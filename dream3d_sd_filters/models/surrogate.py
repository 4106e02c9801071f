"""A fast CNN that predicts a scalar property (e.g. coercivity) from a 4-channel image.

Micromagnetic simulation costs seconds per image; the surrogate answers in milliseconds,
so it can label a whole dataset and screen many generated candidates. Its held-out R²
is recorded in its model card; the simulation stays the reference.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class PropertySurrogate(ModelMixin, ConfigMixin):
    """Strided convolutions, circular padding, global average pooling, a linear head.

    Parameters
    ----------
    in_channels : int
        Image channels (phase + 3 orientation channels).
    widths : tuple of int
        Channels of each stride-2 stage.
    n_outputs : int
        Number of predicted properties.
    target_mean, target_std : tuple of float
        Normalisation of the targets: the network predicts ``(y - mean) / std``.
    """

    @register_to_config
    def __init__(
        self,
        in_channels: int = 4,
        widths: tuple[int, ...] = (32, 64, 128, 128),
        n_outputs: int = 1,
        target_mean: tuple[float, ...] = (0.0,),
        target_std: tuple[float, ...] = (1.0,),
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for width in widths:
            layers += [
                nn.Conv2d(channels, width, 3, stride=2, padding=1, padding_mode="circular"),
                nn.GroupNorm(8, width),
                nn.SiLU(),
                nn.Conv2d(width, width, 3, padding=1, padding_mode="circular"),
                nn.GroupNorm(8, width),
                nn.SiLU(),
            ]
            channels = width
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(channels, n_outputs)
        self.register_buffer(
            "mean", torch.tensor(target_mean, dtype=torch.float32), persistent=False
        )
        self.register_buffer("std", torch.tensor(target_std, dtype=torch.float32), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised predictions, shape (N, n_outputs), for images (N, C, H, W)."""
        return self.head(self.features(images).mean(dim=(2, 3)))

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Predictions in physical units, shape (N, n_outputs)."""
        out = [
            self(images[i : i + batch_size].to(self.device, self.dtype))
            for i in range(0, len(images), batch_size)
        ]
        return torch.cat(out).float().cpu() * self.std.cpu() + self.mean.cpu()
