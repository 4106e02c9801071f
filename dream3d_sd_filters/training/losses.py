"""Loss terms of the autoencoder objective (paper eq. 9)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def channel_weights(phase_weight: float, orientation_weight: float, device=None) -> torch.Tensor:
    """Per-channel weights, shape (1, 4, 1, 1): phase, then the three orientation channels."""
    w = torch.tensor([phase_weight] + [orientation_weight] * 3, dtype=torch.float32, device=device)
    return (w / w.mean()).view(1, 4, 1, 1)


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along y and x with periodic wrap, each of shape (N, C, H, W)."""
    return x - torch.roll(x, 1, dims=2), x - torch.roll(x, 1, dims=3)


def reconstruction_loss(
    original: torch.Tensor,
    reconstructed: torch.Tensor,
    weights: torch.Tensor,
    l1: float,
    mse: float,
    gradient: float,
) -> torch.Tensor:
    """Weighted L1 + MSE + gradient-difference loss, averaged over all elements.

    The gradient term compares image edges directly; grain and phase boundaries are a
    small fraction of pixels but dominate the reconstruction error of piecewise-constant
    microstructures.
    """
    diff = reconstructed - original
    loss = (l1 * diff.abs() + mse * diff.square()) * weights
    total = loss.mean()
    if gradient:
        gy_a, gx_a = image_gradients(original)
        gy_b, gx_b = image_gradients(reconstructed)
        total = total + gradient * (((gy_a - gy_b).abs() + (gx_a - gx_b).abs()) * weights).mean()
    return total


def kl_loss(mean: torch.Tensor, logvar: torch.Tensor, n_image_elements: int) -> torch.Tensor:
    """KL divergence of the diagonal Gaussian posterior to N(0, I), per image element.

    Summed over latent elements and averaged over the batch, then divided by the number
    of image elements: that puts it on the scale of the mean reconstruction loss, so the
    usual Stable Diffusion weight (1e-6) keeps its meaning.
    """
    kl = 0.5 * (mean.square() + logvar.exp() - 1.0 - logvar)
    return kl.flatten(1).sum(1).mean() / n_image_elements


def hinge_discriminator_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """Hinge loss of the patch discriminator."""
    return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())


def adaptive_adversarial_weight(
    reconstruction: torch.Tensor, generator: torch.Tensor, last_layer: torch.Tensor
) -> torch.Tensor:
    """Balance the adversarial gradient against the reconstruction gradient (Esser et al. 2021).

    Returns ``|grad rec| / |grad gan|`` at the decoder's last layer, clamped to [0, 1e4].
    """
    g_rec = torch.autograd.grad(reconstruction, last_layer, retain_graph=True)[0]
    g_gan = torch.autograd.grad(generator, last_layer, retain_graph=True)[0]
    return (g_rec.norm() / (g_gan.norm() + 1e-4)).clamp(0.0, 1e4).detach()
