"""Evaluate a checkpoint the way the paper did: its tables and figures for any model.

:func:`run_evaluation` (the ``sd-filters evaluate`` command) loads a pipeline and a
dataset, runs one evaluation and writes a report folder with ``metrics.json`` and
``index.html`` (plus PNG figures). Each evaluation is also a plain function on arrays:

* :mod:`.reconstruction`: autoencoder RMSE, PSNR, SSIM, FSIM (Table 1, Figs. 2-3);
* :mod:`.interpolation`: the gamma x timestep grid and its similarity heatmaps (Figs. 4-5);
* :mod:`.inpainting`: three mask shapes, SSIM/FSIM and descriptor differences
  (Table 2, Figs. 6-7);
* :mod:`.generation`: volume fractions, two-point correlation, Fréchet distance and
  KID against the training data (Table 3, Fig. 8);
* :mod:`.controlnet`: phase agreement and boundary fit of the orientation ControlNet,
  property distributions per target of the property ControlNet (Fig. 9).

:mod:`.figures` draws the figures and :func:`dream3d_sd_filters.report.write_html_page`
writes the page. See docs/evaluation.md for what every number means.
"""

from ..report import Section, Table
from .common import EvaluationResult
from .controlnet import evaluate_orientation_controlnet, evaluate_property_controlnet
from .generation import evaluate_generation
from .inpainting import MASK_SHAPES, evaluate_inpainting, make_mask
from .interpolation import evaluate_interpolation
from .reconstruction import evaluate_reconstruction
from .runner import DEFAULT_N_IMAGES, DEFAULT_STEPS, KINDS, run_evaluation

__all__ = [
    "DEFAULT_N_IMAGES",
    "DEFAULT_STEPS",
    "KINDS",
    "MASK_SHAPES",
    "EvaluationResult",
    "Section",
    "Table",
    "evaluate_generation",
    "evaluate_inpainting",
    "evaluate_interpolation",
    "evaluate_orientation_controlnet",
    "evaluate_property_controlnet",
    "evaluate_reconstruction",
    "make_mask",
    "run_evaluation",
]
