"""Regenerate ``small_grains.dream3d``, the input of the example pipelines.

A 32 x 32 x 4 two-phase polycrystal (cubic + hexagonal, 1 um voxels; the first four
slices of a synthetic 32 x 32 x 8 volume) with a ``Mask`` cell array (uint8, 1 = cells
for SD Inpaint to fill: a 12 x 12 box in slices 1 and 2). Run from anywhere:
``python examples/data/make_small_grains.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dream3d_sd_filters.io.dream3d import write_dream3d
from dream3d_sd_filters.synth import SynthParams, build_microstructure

HERE = Path(__file__).resolve().parent


def main() -> None:
    params = SynthParams(
        mu=1.25, sigma=0.1, phase2_fraction=0.4, crystal_structures=("cubic", "hexagonal")
    )
    full = build_microstructure(params, (32, 32, 8), seed=1)
    cells = {name: array[:4] for name, array in full.cell_data.items()}
    cells["Mask"] = np.zeros((4, 32, 32, 1), dtype=np.uint8)
    cells["Mask"][1:3, 10:22, 10:22] = 1
    volume = full.replace(dims=(32, 32, 4), cell_data=cells, feature_data={}, name="DataContainer")
    write_dream3d(volume, HERE / "small_grains.dream3d", compression="gzip")


if __name__ == "__main__":
    main()
