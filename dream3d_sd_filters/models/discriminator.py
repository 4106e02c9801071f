"""A patch discriminator for the adversarial term of the autoencoder loss."""

from __future__ import annotations

import torch
from torch import nn


class PatchDiscriminator(nn.Module):
    """PatchGAN (Isola et al. 2017): one real/fake logit per overlapping image patch.

    Parameters
    ----------
    in_channels : int
        Image channels.
    width : int
        Channels of the first layer; doubled at each of the ``n_layers`` strided layers.
    n_layers : int
        Strided convolutions; the receptive field grows to ``~ 2**(n_layers + 2)`` pixels.
    """

    def __init__(self, in_channels: int = 4, width: int = 32, n_layers: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, width, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        ]
        channels = width
        for i in range(1, n_layers + 1):
            out = width * 2 ** min(i, 3)
            stride = 2 if i < n_layers else 1
            layers += [
                nn.Conv2d(channels, out, 4, stride=stride, padding=1, bias=False),
                nn.GroupNorm(8, out),
                nn.LeakyReLU(0.2),
            ]
            channels = out
        layers.append(nn.Conv2d(channels, 1, 4, stride=1, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits of shape (N, 1, h, w) for images of shape (N, C, H, W)."""
        return self.net(images)
