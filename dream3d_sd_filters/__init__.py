"""dream3d-sd-filters: latent diffusion for two-phase polycrystal microstructures.

The core is framework-free: :class:`Volume` (an image geometry with DREAM3D-style
arrays), readers and writers in :mod:`dream3d_sd_filters.io`, orientations in
:mod:`dream3d_sd_filters.orientations`, the synthetic builder in
:mod:`dream3d_sd_filters.synth`. DREAM3D-NX filters, ParaView plugins and the
CLI are thin adapters over the same functions.
"""

from .errors import InputError
from .volume import Volume

__all__ = ["InputError", "Volume"]
__version__ = "0.1.0"
