"""Image metrics, microstructure descriptors and Fréchet distances for model evaluation.

* :mod:`.image`: RMSE, PSNR, SSIM and FSIM / FSIMc per channel group.
* :mod:`.descriptors`: two-point correlation, volume fraction, lineal path and variation
  in torch, and the MCRpy reference implementation (``[descriptors]`` extra).
* :mod:`.frechet`: Fréchet distance and KID on microstructure features, and Inception
  FID from a user-supplied weights file.
"""
