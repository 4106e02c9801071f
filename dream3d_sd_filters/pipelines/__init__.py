"""Sampling pipelines over the trained networks: reconstruction, generation, interpolation, inpainting."""

from .microstructure_sd import SAMPLERS, MicrostructureSD

__all__ = ["SAMPLERS", "MicrostructureSD"]
