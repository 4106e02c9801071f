"""Boundary handling of the convolutions: circular (periodic) or reflecting.

The training images are slices of periodic volumes, so the networks are built with
circular padding: every convolution sees the image as a torus. That makes the models
fully convolutional without edge effects, so images larger than the training size
come out seamless, and generated images tile periodically. For inputs that are not
periodic (a cut from a real map) the padding can be switched to ``"reflect"`` at
inference, which continues each grain across the border instead of wrapping.
"""

from __future__ import annotations

from torch import nn

from ..errors import InputError

PADDING_MODES = ("circular", "reflect", "zeros")


def set_padding_mode(model: nn.Module, mode: str) -> nn.Module:
    """Set the padding of every padded convolution in ``model`` (in place).

    diffusers' strided ``Downsample2D`` pads only the right and bottom edges with
    zeros before an unpadded convolution; it is switched to symmetric padding of one
    pixel, which gives the same output size and the same weight shapes.

    Parameters
    ----------
    model : torch.nn.Module
    mode : {"circular", "reflect", "zeros"}

    Returns
    -------
    torch.nn.Module
        ``model`` itself.
    """
    from diffusers.models.downsampling import Downsample2D

    if mode not in PADDING_MODES:
        raise InputError(f"unknown padding mode {mode!r}; use one of {PADDING_MODES}")
    for module in model.modules():
        if isinstance(module, Downsample2D) and module.use_conv and module.padding == 0:
            module.padding = 1
            module.conv.padding = (1, 1)
            # Non-zero padding modes pad with this cached copy, made at construction.
            module.conv._reversed_padding_repeated_twice = [1, 1, 1, 1]
        if isinstance(module, nn.Conv2d) and any(p > 0 for p in module.padding):
            module.padding_mode = mode
    return model
