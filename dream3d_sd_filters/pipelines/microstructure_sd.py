"""`MicrostructureSD`: the paper's four tasks on 4-channel microstructure images.

All methods take and return NumPy arrays of encoded images, shape (N, 4, H, W), float32
in [-1, 1] (see :mod:`dream3d_sd_filters.data.encoding`); turning them into DREAM3D
arrays is the job of :mod:`dream3d_sd_filters.tasks`.

A pipeline folder (``save_pretrained``) holds ``vae/``, ``unet/`` and ``scheduler/``
diffusers folders and a ``model_card.json``. The bundled default lives inside the
package, so ``MicrostructureSD.from_pretrained("default")`` works offline.
"""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError
from ..models.autoencoder import AutoencoderSettings, build_autoencoder
from ..models.card import CHANNELS, read_model_card, write_model_card
from ..models.padding import set_padding_mode
from ..models.unet import UNetSettings, build_unet, null_context

#: Samplers for generation: name -> diffusers scheduler class name.
SAMPLERS: dict[str, str] = {
    "ddpm": "DDPMScheduler",
    "ddim": "DDIMScheduler",
    "dpmsolver++": "DPMSolverMultistepScheduler",
}
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "weights"

#: Default classifier-free guidance of the orientation ControlNet. On the bundled model
#: (64 validation phase maps, 25 steps) the phase agreement is 0.83 at scale 1, 0.89 at
#: 1.5, 0.95 at 3 and 0.98 at 5: the phase map must be followed that strongly.
ORIENTATION_GUIDANCE_SCALE = 5.0

#: Default weight of surrogate guidance toward a property target (see
#: :meth:`MicrostructureSD.generate`). On the bundled model (25 steps, coercivity targets
#: 2-8 T, checked by micromagnetics) it lifts the Spearman rho between target and
#: simulated coercivity from 0.09 (ControlNet alone) to 0.91; 16 gave about the same
#: rho and hit rate but blurs some designs (docs/results.md).
SURROGATE_GUIDANCE_SCALE = 8.0

#: Called after each denoising step with (done, total); returning True cancels the job.
ProgressCallback = Callable[[int, int], bool | None]


class Cancelled(Exception):
    """Raised when a progress callback asks to stop."""


def resolve_pretrained(name_or_path: str | os.PathLike) -> Path:
    """A pipeline folder: a bundled model name (``"default"``) or a path."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    bundled = BUNDLED_DIR / str(name_or_path)
    if bundled.is_dir():
        return bundled
    names = (
        sorted(p.name for p in BUNDLED_DIR.iterdir() if p.is_dir()) if BUNDLED_DIR.is_dir() else []
    )
    raise InputError(
        f"no checkpoint folder or bundled model named {str(name_or_path)!r}; bundled: {', '.join(names) or 'none'}"
    )


def _check_images(images: np.ndarray, channels: int, name: str = "images") -> np.ndarray:
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[1] != channels:
        raise InputError(f"{name} must have shape (N, {channels}, H, W), got {images.shape}")
    if not np.all(np.isfinite(images)):
        raise InputError(f"{name} contain NaN or infinite values")
    return images


class MicrostructureSD:
    """Latent diffusion for two-phase polycrystal microstructure images.

    Parameters
    ----------
    vae : diffusers.AutoencoderKL
    unet : diffusers.UNet2DConditionModel
    scheduler_config : dict
        Training noise schedule (DDPM, 1000 steps, epsilon prediction).
    card : dict
        Model card (orientation encoding, scaling factor, image size, ...).
    device : str
        Torch device, e.g. "cpu" or "cuda".
    controlnets : dict, optional
        ``{"orientation": ControlNetModel, "property": ControlNetModel}``; each must be
        described under ``card["controlnets"]``.
    surrogates : dict, optional
        ``{property: PropertySurrogate}``, fast property predictors used to screen
        generated designs.
    """

    def __init__(
        self,
        vae,
        unet,
        scheduler_config: dict[str, Any],
        card: dict[str, Any],
        device: str = "cpu",
        controlnets: dict[str, Any] | None = None,
        surrogates: dict[str, Any] | None = None,
    ):
        self.vae = vae.eval().requires_grad_(False).to(device)
        self.unet = unet.eval().requires_grad_(False).to(device)
        self.controlnets = {
            k: c.eval().requires_grad_(False).to(device) for k, c in (controlnets or {}).items()
        }
        self.surrogates = {
            k: m.eval().requires_grad_(False).to(device) for k, m in (surrogates or {}).items()
        }
        missing = sorted(set(self.controlnets) - set(card.get("controlnets", {})))
        if missing:
            raise InputError(
                f"the model card does not describe the ControlNet(s) {', '.join(missing)}"
            )
        self.scheduler_config = dict(scheduler_config)
        self.card = card
        self.device = torch.device(device)
        self.scaling_factor = float(card["scaling_factor"])
        self.encoding = card["orientation_encoding"]
        self.image_size = int(card["image_size"])
        self.downsampling = 2 ** (len(vae.config.block_out_channels) - 1)
        self.padding = card.get("padding", "circular")

    # -- loading and saving -------------------------------------------------------------

    @classmethod
    def from_settings(
        cls,
        autoencoder: AutoencoderSettings | None = None,
        unet: UNetSettings | None = None,
        *,
        encoding: str = "euler",
        seed: int = 0,
        device: str = "cpu",
    ) -> MicrostructureSD:
        """A freshly initialised (untrained) pipeline, e.g. to test plumbing before training."""
        from ..models.unet import build_noise_scheduler

        autoencoder = autoencoder or AutoencoderSettings()
        unet = unet or UNetSettings(
            latent_channels=autoencoder.latent_channels,
            sample_size=autoencoder.sample_size // autoencoder.downsampling,
        )
        torch.manual_seed(seed)
        card = {
            "model": "pipeline",
            "channels": list(CHANNELS),
            "orientation_encoding": encoding,
            "image_size": autoencoder.sample_size,
            "padding": autoencoder.padding,
            "scaling_factor": 1.0,
            "trained": False,
        }
        return cls(
            build_autoencoder(autoencoder),
            build_unet(unet),
            dict(build_noise_scheduler().config),
            card,
            device,
        )

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | os.PathLike = "default", device: str = "cpu"
    ) -> MicrostructureSD:
        """Load a pipeline folder or a bundled model (offline).

        Raises
        ------
        InputError
            If the folder is not a pipeline, or its weights are corrupt.
        """
        from diffusers import ControlNetModel, DDPMScheduler, UNet2DConditionModel

        from ..models.refiner import MicrostructureAutoencoderKL

        folder = resolve_pretrained(name_or_path)
        card = read_model_card(folder)
        if card.get("model") != "pipeline":
            raise InputError(
                f"{str(folder)!r} holds a {card.get('model')!r} checkpoint, not a pipeline; "
                "assemble one with `sd-train bundle`"
            )
        if len(card.get("channels", ())) != 4:
            raise InputError(
                f"{str(folder)!r} has {len(card.get('channels', ()))} image channels; 4 are needed"
            )
        from ..models.surrogate import PropertySurrogate

        def load(model_class, name: str, what: str):
            try:
                return model_class.from_pretrained(folder / name, torch_dtype=torch.float32)
            except (OSError, ValueError, RuntimeError) as error:
                raise InputError(
                    f"cannot load {what} in {str(folder)!r}: {' '.join(str(error).split())}"
                ) from None

        vae = load(MicrostructureAutoencoderKL, "vae", "the model")
        unet = load(UNet2DConditionModel, "unet", "the model")
        scheduler = load(DDPMScheduler, "scheduler", "the model")
        padding = card.get("padding", "circular")
        controlnets = {
            task: load(ControlNetModel, f"controlnet-{task}", f"the {task} ControlNet")
            for task in card.get("controlnets", {})
        }
        for network in (vae, unet, *controlnets.values()):
            set_padding_mode(network, padding)
        surrogates = {
            prop: load(PropertySurrogate, f"surrogate-{prop}", f"the {prop} surrogate")
            for prop in card.get("surrogates", {})
        }
        return cls(
            vae,
            unet,
            dict(scheduler.config),
            card,
            device=device,
            controlnets=controlnets,
            surrogates=surrogates,
        )

    def save_pretrained(self, folder: str | os.PathLike, half: bool = False) -> Path:
        """Write the pipeline folder (optionally with fp16 weights); atomic."""
        from diffusers import DDPMScheduler
        from diffusers.utils import logging as diffusers_logging

        target = Path(folder)
        tmp = target.with_name(target.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        dtype = torch.float16 if half else torch.float32
        verbosity = diffusers_logging.get_verbosity()
        diffusers_logging.set_verbosity_error()  # casting a copy for storage is intended
        try:
            models = {"vae": self.vae, "unet": self.unet}
            models.update({f"controlnet-{task}": c for task, c in self.controlnets.items()})
            models.update({f"surrogate-{prop}": m for prop, m in self.surrogates.items()})
            for name, model in models.items():
                copy.deepcopy(model).to("cpu", dtype).save_pretrained(tmp / name)
        finally:
            diffusers_logging.set_verbosity(verbosity)
        DDPMScheduler.from_config(self.scheduler_config).save_pretrained(tmp / "scheduler")
        fields = {
            k: v
            for k, v in self.card.items()
            if k not in ("format_version", "package_version", "created", "channels")
        }
        write_model_card(tmp, **fields)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        return target

    # -- building blocks ------------------------------------------------------------------

    def _padding(self, periodic: bool) -> None:
        mode = "circular" if periodic else "reflect"
        set_padding_mode(self.vae, mode)
        set_padding_mode(self.unet, mode)

    @property
    def unet_multiple(self) -> int:
        """Image sizes the diffusion tasks take directly: the UNet halves its latent
        ``len(block_out_channels) - 1`` times, so sizes must be multiples of this."""
        return self.downsampling * 2 ** (len(self.unet.config.block_out_channels) - 1)

    def _check_size(self, height: int, width: int) -> None:
        f = self.unet_multiple
        if height % f or width % f:
            raise InputError(f"image size {height}x{width} must be a multiple of {f} pixels")

    @torch.no_grad()
    def encode(
        self,
        images: np.ndarray,
        batch_size: int = 32,
        periodic: bool = True,
        multiple: int | None = None,
    ) -> torch.Tensor:
        """Scaled latent means of encoded images, shape (N, 4, H'/f, W'/f).

        Images are first padded to a multiple of ``multiple`` pixels (default: the
        downsampling ``f``; see :meth:`pad_to_multiple`), giving the size (H', W').
        """
        images, _ = self.pad_to_multiple(
            _check_images(images, self.vae.config.in_channels), periodic, multiple
        )
        self._padding(periodic)
        out = [
            self.vae.encode(
                torch.from_numpy(images[i : i + batch_size]).to(self.device)
            ).latent_dist.mean
            for i in range(0, len(images), batch_size)
        ]
        return torch.cat(out) * self.scaling_factor

    @torch.no_grad()
    def decode(
        self, latents: torch.Tensor, batch_size: int = 32, periodic: bool = True
    ) -> np.ndarray:
        """Images from scaled latents, shape (N, 4, H, W), float32, clipped to [-1, 1]."""
        self._padding(periodic)
        out = [
            self.vae.decode(
                latents[i : i + batch_size].to(self.device) / self.scaling_factor
            ).sample
            for i in range(0, len(latents), batch_size)
        ]
        return torch.cat(out).clamp(-1, 1).cpu().numpy()

    def _eps(self, x: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        t = torch.as_tensor(t, device=self.device)
        return self.unet(
            x, t, encoder_hidden_states=null_context(self.unet, len(x), self.device)
        ).sample

    def make_scheduler(self, sampler: str, steps: int):
        """A fresh diffusers scheduler for ``sampler`` with ``steps`` inference steps."""
        import diffusers

        if sampler not in SAMPLERS:
            raise InputError(f"unknown sampler {sampler!r}; use one of {', '.join(SAMPLERS)}")
        if not 1 <= steps <= self.scheduler_config["num_train_timesteps"]:
            raise InputError(
                f"steps must be in 1..{self.scheduler_config['num_train_timesteps']}, got {steps}"
            )
        cls = getattr(diffusers, SAMPLERS[sampler])
        kwargs = {"algorithm_type": "dpmsolver++"} if sampler == "dpmsolver++" else {}
        scheduler = cls.from_config(self.scheduler_config, **kwargs)
        scheduler.set_timesteps(steps, device=self.device)
        return scheduler

    @cached_property
    def alphas_cumprod(self) -> torch.Tensor:
        """Cumulative products of the training schedule's alphas, shape (T,)."""
        from diffusers import DDPMScheduler

        return DDPMScheduler.from_config(self.scheduler_config).alphas_cumprod.to(self.device)

    # -- the four tasks -------------------------------------------------------------------

    def pad_to_multiple(
        self, images: np.ndarray, periodic: bool, multiple: int | None = None
    ) -> tuple[np.ndarray, tuple[int, int]]:
        """Pad (..., H, W) images at the bottom/right to a multiple of ``multiple`` pixels.

        ``multiple`` defaults to the autoencoder's downsampling factor. Periodic images
        are wrapped, others mirrored, so the padding looks like more microstructure.
        Images are padded to at least two multiples, because reflecting padding needs
        the coarsest feature map to be two pixels wide (thin slices of small volumes).
        Returns the padded images and the original (H, W).
        """
        h, w = images.shape[-2:]
        f = multiple or self.downsampling
        ph, pw = (max(-(-n // f), 2) * f - n for n in (h, w))
        if ph or pw:
            pad = [(0, 0)] * (images.ndim - 2) + [(0, ph), (0, pw)]
            images = np.pad(images, pad, mode="wrap" if periodic else "symmetric")
        return images, (h, w)

    def reconstruct(
        self, images: np.ndarray, batch_size: int = 32, periodic: bool = True
    ) -> np.ndarray:
        """Encode, then decode (the autoencoder's reconstruction), shape (N, 4, H, W).

        Any image size works: sizes that are not a multiple of the downsampling factor
        are padded for the networks and cropped back.
        """
        h, w = _check_images(images, 4).shape[-2:]
        return self.decode(self.encode(images, batch_size, periodic), batch_size, periodic)[
            ..., :h, :w
        ]

    @torch.no_grad()
    def generate(
        self,
        n: int,
        *,
        size: int | tuple[int, int] | None = None,
        sampler: str = "dpmsolver++",
        steps: int = 25,
        seed: int = 0,
        batch_size: int = 16,
        periodic: bool = True,
        target: dict[str, float] | None = None,
        guidance_scale: float = 2.0,
        surrogate_guidance_scale: float = SURROGATE_GUIDANCE_SCALE,
        callback: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Samples, unconditional or with target properties, shape (n, 4, H, W).

        Parameters
        ----------
        n : int
            Number of images.
        size : int or (int, int), optional
            Image height and width in pixels; defaults to the training size. Larger
            sizes work because the networks are fully convolutional.
        sampler : {"ddpm", "ddim", "dpmsolver++"}
        steps : int
            Denoising steps.
        seed : int
            Seed; sample ``i`` depends only on (seed, i), not on the batch size.
        batch_size : int
        periodic : bool
            Circular padding (the result tiles seamlessly); otherwise reflecting borders.
        target : dict, optional
            Property values in the units of the model card, e.g. ``{"coercivity": 2.0}``
            (tesla); needs the bundled property ControlNet.
        guidance_scale : float
            Classifier-free guidance weight of the target (1 = plain conditioning).
        surrogate_guidance_scale : float
            With ``target``: weight of the gradient of the property surrogates' squared
            error (in units of their training std) on the decoded clean estimate at each
            step, added to the predicted noise as in classifier guidance. 0 turns it off;
            > 0 needs a surrogate for every target property.
        callback : callable, optional
            ``callback(done, total)`` after each step; returning True cancels.
        """
        if n < 1:
            raise InputError(f"n must be >= 1, got {n}")
        height, width = (size, size) if isinstance(size, int) else (size or (self.image_size,) * 2)
        self._check_size(height, width)
        condition = steer = None
        if target is not None:
            vector = torch.from_numpy(self.normalize_target(target))
            condition = ("property", lambda start, count: vector.expand(count, -1))
            if surrogate_guidance_scale < 0:
                raise InputError(
                    f"surrogate guidance scale must be >= 0, got {surrogate_guidance_scale}"
                )
            if surrogate_guidance_scale > 0:
                steer = (self._surrogate_loss(target), surrogate_guidance_scale)
        return self._sample(
            n,
            height,
            width,
            sampler,
            steps,
            seed,
            batch_size,
            periodic,
            condition,
            guidance_scale,
            callback,
            steer,
        )

    def _surrogate_loss(self, target: dict[str, float]) -> Callable[[torch.Tensor], torch.Tensor]:
        """Squared distance of the surrogates' predictions to ``target``, summed over images.

        Returns a differentiable function of images (N, 4, H, W) in [-1, 1]; each term is
        in units of the surrogate's training std, so properties of any unit weigh alike.
        """
        missing = sorted(set(target) - set(self.surrogates))
        if missing:
            raise InputError(
                f"surrogate guidance needs a surrogate for {', '.join(missing)}, and this model "
                f"has {', '.join(self.surrogates) or 'none'}; set the surrogate guidance to 0"
            )
        terms = [
            (
                self.surrogates[name],
                (value - self.surrogates[name].mean[0]) / self.surrogates[name].std[0],
            )
            for name, value in target.items()
        ]
        return lambda images: sum(
            (model(images)[:, 0] - goal).square().sum() for model, goal in terms
        )

    @torch.no_grad()
    def predict_orientations(
        self,
        phase_maps: np.ndarray,
        *,
        sampler: str = "dpmsolver++",
        steps: int = 25,
        seed: int = 0,
        batch_size: int = 16,
        periodic: bool = True,
        guidance_scale: float = ORIENTATION_GUIDANCE_SCALE,
        callback: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Microstructures whose grains fit given phase maps (the orientation ControlNet).

        Parameters
        ----------
        phase_maps : ndarray, shape (N, H, W), integer
            Phase ids, 1 or 2.

        Returns
        -------
        ndarray, shape (N, 4, H, W)
            Generated images; channel 0 is the model's own phase channel, which follows
            the given map but is not forced to equal it.
        """
        phase_maps = np.asarray(phase_maps)
        if phase_maps.ndim != 3:
            raise InputError(f"phase maps must have shape (N, H, W), got {phase_maps.shape}")
        values = np.unique(phase_maps)
        if phase_maps.dtype.kind not in "iub" or not set(values.tolist()) <= {1, 2}:
            shown = ", ".join(str(v) for v in values[:6])
            raise InputError(
                f"a phase map must hold the integers 1 and 2 only (two phases); found {shown}"
                + (" ..." if len(values) > 6 else "")
            )
        padded, (h, w) = self.pad_to_multiple(phase_maps, periodic, self.unet_multiple)
        maps = torch.from_numpy(np.where(padded == 2, 1.0, -1.0).astype(np.float32))
        _, height, width = padded.shape
        condition = ("orientation", lambda start, count: maps[start : start + count])
        images = self._sample(
            len(maps),
            height,
            width,
            sampler,
            steps,
            seed,
            batch_size,
            periodic,
            condition,
            guidance_scale,
            callback,
        )
        return images[..., :h, :w]

    def normalize_target(self, target: dict[str, float]) -> np.ndarray:
        """Target properties as the property ControlNet's normalised vector, shape (k,).

        Values outside the trained range only warn: the model extrapolates poorly there.
        """
        import warnings

        info = self._controlnet_info("property")
        names = info["properties"]
        unknown = sorted(set(target) - set(names))
        missing = [p for p in names if p not in target]
        if unknown or missing:
            raise InputError(
                f"the property model is conditioned on {', '.join(names)}; got {', '.join(sorted(target)) or 'none'}"
            )
        out = []
        for name in names:
            low, high = info["property_range"][name]
            if not low <= target[name] <= high:
                warnings.warn(
                    f"target {name}={target[name]:g} lies outside the trained range [{low:g}, {high:g}]; "
                    "generating anyway",
                    stacklevel=3,
                )
            mean, std = info["property_normalization"][name]
            out.append((target[name] - mean) / std)
        return np.asarray(out, dtype=np.float32)

    def _controlnet_info(self, task: str) -> dict[str, Any]:
        if task not in self.controlnets:
            have = ", ".join(self.controlnets) or "none"
            raise InputError(f"this model has no {task} ControlNet (it has: {have})")
        return self.card["controlnets"][task]

    def _sample(
        self,
        n,
        height,
        width,
        sampler,
        steps,
        seed,
        batch_size,
        periodic,
        condition,
        guidance_scale,
        callback,
        steer=None,
    ):
        from ..models.controlnet import make_condition

        self._padding(periodic)
        controlnet = None
        if condition is not None:
            self._controlnet_info(condition[0])
            controlnet = self.controlnets[condition[0]]
        shape = (
            self.unet.config.in_channels,
            height // self.downsampling,
            width // self.downsampling,
        )
        total = -(-n // batch_size) * steps
        done = 0
        out = []
        for start in range(0, n, batch_size):
            count = min(batch_size, n - start)
            x = torch.stack(
                [
                    torch.randn(
                        shape, generator=torch.Generator().manual_seed(seed * 1_000_003 + start + i)
                    )
                    for i in range(count)
                ]
            ).to(self.device)
            if controlnet is not None:
                cond = make_condition(condition[0], condition[1](start, count), height, width).to(
                    self.device
                )
                both = torch.cat([torch.zeros_like(cond), cond])
            scheduler = self.make_scheduler(sampler, steps)
            x = x * scheduler.init_noise_sigma
            noise_gen = torch.Generator().manual_seed(seed * 7919 + start)
            for t in scheduler.timesteps:
                model_input = scheduler.scale_model_input(x, t)
                if controlnet is None:
                    eps = self._eps(model_input, t)
                else:
                    eps_null, eps_cond = self._controlled_eps(
                        torch.cat([model_input] * 2), t, controlnet, both
                    ).chunk(2)
                    eps = eps_null + guidance_scale * (eps_cond - eps_null)
                if steer is not None:
                    eps = self._steer(x, t, eps, *steer)
                kwargs = {"generator": noise_gen} if sampler == "ddpm" else {}
                x = scheduler.step(eps, t, x, **kwargs).prev_sample
                done += 1
                if callback is not None and callback(done, total):
                    raise Cancelled("sampling cancelled")
            out.append(self.decode(x, periodic=periodic))
        return np.concatenate(out)

    def _steer(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        eps: torch.Tensor,
        loss: Callable[[torch.Tensor], torch.Tensor],
        scale: float,
    ) -> torch.Tensor:
        """Predicted noise pushed down the gradient of ``loss`` of the decoded clean estimate.

        Classifier guidance with ``-loss`` as the log-likelihood. The noise prediction is
        held fixed, so only the decoder and the loss are differentiated, not the UNet.
        """
        a = self.alphas_cumprod[int(t)]
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            clean = (x - (1 - a).sqrt() * eps) / a.sqrt()
            images = self.vae.decode(clean / self.scaling_factor).sample.clamp(-1, 1)
            (grad,) = torch.autograd.grad(loss(images), x)
        return eps + scale * (1 - a).sqrt() * grad

    def _controlled_eps(self, x, t, controlnet, condition):
        t = torch.as_tensor(t, device=self.device)
        context = null_context(self.unet, len(x), self.device)
        down, mid = controlnet(
            x, t, encoder_hidden_states=context, controlnet_cond=condition, return_dict=False
        )
        return self.unet(
            x,
            t,
            encoder_hidden_states=context,
            down_block_additional_residuals=down,
            mid_block_additional_residual=mid,
        ).sample

    def _ddim_denoise(
        self, x: torch.Tensor, t_from: int, steps: int, callback: Callable[[], None] | None = None
    ) -> torch.Tensor:
        """Deterministic DDIM from timestep ``t_from`` down to 0 in ``steps`` steps."""
        a = self.alphas_cumprod
        times = np.linspace(t_from, 0, steps + 1).round().astype(int)
        for t, t_next in zip(times[:-1], times[1:]):
            eps = self._eps(x, int(t))
            x0 = (x - (1 - a[t]).sqrt() * eps) / a[t].sqrt()
            x = a[t_next].sqrt() * x0 + (1 - a[t_next]).sqrt() * eps if t_next > 0 else x0
            if callback is not None:
                callback()
        return x

    @torch.no_grad()
    def interpolate(
        self,
        image_a: np.ndarray,
        image_b: np.ndarray,
        gammas: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0),
        timesteps: Sequence[int] = (0, 250, 500, 750),
        *,
        steps: int = 25,
        seed: int = 0,
        periodic: bool = True,
        callback: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Interpolate between two microstructures (paper eq. 14), on a gamma x t grid.

        Both latents are noised to timestep ``t`` with the same noise, mixed as
        ``(1 - gamma) * z_a,t + gamma * z_b,t`` and denoised back to t = 0 with DDIM.
        At ``t = 0`` this is plain latent interpolation.

        Parameters
        ----------
        image_a, image_b : ndarray, shape (4, H, W)
        gammas : sequence of float in [0, 1]
        timesteps : sequence of int in [0, 1000)
        steps : int
            DDIM steps for the full range; a timestep t gets ``ceil(steps * t / 1000)``.

        Returns
        -------
        ndarray, shape (len(timesteps), len(gammas), 4, H, W)
        """
        a = _check_images(np.asarray(image_a)[None], 4, "image_a")
        b = _check_images(np.asarray(image_b)[None], 4, "image_b")
        if a.shape != b.shape:
            raise InputError(f"the two images differ in shape: {a.shape[1:]} and {b.shape[1:]}")
        gammas = [float(g) for g in gammas]
        if any(not 0 <= g <= 1 for g in gammas):
            raise InputError(f"gammas must lie in [0, 1], got {gammas}")
        n_train = self.scheduler_config["num_train_timesteps"]
        if any(not 0 <= int(t) < n_train for t in timesteps):
            raise InputError(f"timesteps must lie in [0, {n_train}), got {list(timesteps)}")
        h, w = a.shape[-2:]
        za, zb = self.encode(
            np.concatenate([a, b]), periodic=periodic, multiple=self.unet_multiple
        ).chunk(2)
        noise = torch.randn(za.shape, generator=torch.Generator().manual_seed(seed)).to(self.device)
        alphas = self.alphas_cumprod
        total = sum(
            max(1, int(np.ceil(steps * int(t) / n_train))) for t in timesteps if int(t) > 0
        ) * len(gammas)
        progress = {"done": 0}

        def tick() -> None:
            progress["done"] += 1
            if callback is not None and callback(progress["done"], total):
                raise Cancelled("interpolation cancelled")

        grid = []
        for t in (int(t) for t in timesteps):
            mixed = torch.cat([(1 - g) * za + g * zb for g in gammas])
            if t > 0:
                at = alphas[t]
                x = at.sqrt() * mixed + (1 - at).sqrt() * noise
                mixed = torch.cat(
                    [
                        self._ddim_denoise(
                            x[i : i + 1], t, max(1, int(np.ceil(steps * t / n_train))), tick
                        )
                        for i in range(len(gammas))
                    ]
                )
            grid.append(self.decode(mixed, periodic=periodic)[..., :h, :w])
        return np.stack(grid)

    @torch.no_grad()
    def inpaint(
        self,
        images: np.ndarray,
        mask: np.ndarray,
        *,
        steps: int = 50,
        jump_length: int = 10,
        jump_n_sample: int = 3,
        seed: int = 0,
        batch_size: int = 16,
        periodic: bool = True,
        start_latents: torch.Tensor | None = None,
        start_step: int | None = None,
        callback: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Fill the masked pixels, RePaint-style in latent space (Lugmayr et al. 2022).

        At every step the known region is re-noised from the encoded input to the current
        noise level and pasted outside the latent mask; resampling jumps go back up
        ``jump_length`` steps ``jump_n_sample - 1`` times to harmonise the two regions.
        The decoded result keeps the known pixels exactly.

        Parameters
        ----------
        images : ndarray, shape (N, 4, H, W)
        mask : ndarray of bool, shape (N, H, W) or (H, W)
            True where pixels are unknown and must be generated.
        steps : int
            Denoising steps on the coarse time grid (DDIM, deterministic between jumps).
        jump_length, jump_n_sample : int
            RePaint resampling: jump back ``jump_length`` steps, ``jump_n_sample - 1`` times.
        start_latents, start_step : optional
            Start from these latents noised to grid step ``start_step`` instead of pure
            noise (used to keep neighbouring slices of a volume consistent).

        Returns
        -------
        ndarray, shape (N, 4, H, W)
        """
        images = _check_images(images, 4)
        mask = np.asarray(mask)
        if mask.dtype != bool:
            if (
                mask.dtype.kind not in "iu"
                or (mask.size and mask.max() > 1)
                or (mask.size and mask.min() < 0)
            ):
                raise InputError(f"mask must be boolean (or 0/1 integers), got dtype {mask.dtype}")
            mask = mask.astype(bool)
        if mask.ndim == 2:
            mask = np.broadcast_to(mask, (len(images), *mask.shape))
        if mask.shape != (len(images), *images.shape[2:]):
            raise InputError(
                f"mask has shape {mask.shape}, expected {(len(images), *images.shape[2:])}"
            )
        if jump_length < 1 or jump_n_sample < 1:
            raise InputError("jump_length and jump_n_sample must be >= 1")
        h, w = images.shape[2:]
        # Padding copies the mask too, so wrapped copies of unknown pixels stay unknown.
        images, _ = self.pad_to_multiple(images, periodic, self.unet_multiple)
        mask = self.pad_to_multiple(mask[:, None], periodic, self.unet_multiple)[0][:, 0]
        out = images.copy()
        todo = np.flatnonzero(mask.reshape(len(mask), -1).any(1))
        schedule = repaint_schedule(steps, jump_length, jump_n_sample)
        total = len(schedule) * -(-len(todo) // batch_size) if len(todo) else 0
        done = 0
        for start in range(0, len(todo), batch_size):
            idx = todo[start : start + batch_size]
            known = self.encode(images[idx], periodic=periodic)
            pixel_mask = torch.from_numpy(mask[idx].astype(np.float32))[:, None]
            f = self.downsampling
            # A latent pixel is unknown if any pixel it covers is; one more latent pixel of
            # margin lets the decoder blend the seam.
            latent_mask = torch.nn.functional.max_pool2d(pixel_mask, f)
            latent_mask = torch.nn.functional.max_pool2d(latent_mask, 3, stride=1, padding=1).to(
                self.device
            )
            generator = torch.Generator().manual_seed(seed * 1_000_003 + int(idx[0]))
            x, done = self._repaint(
                known,
                latent_mask,
                schedule,
                steps,
                generator,
                None if start_latents is None else start_latents[idx],
                start_step,
                callback,
                done,
                total,
            )
            decoded = self.decode(x, periodic=periodic)
            keep = mask[idx][:, None]
            out[idx] = np.where(keep, decoded, images[idx])
        return out[..., :h, :w]

    def _repaint(
        self,
        known,
        latent_mask,
        schedule,
        steps,
        generator,
        start_latents,
        start_step,
        callback,
        done,
        total,
    ):
        a = self.alphas_cumprod
        n_train = self.scheduler_config["num_train_timesteps"]
        # grid[i] is the timestep at grid position i; position ``steps`` is the clean latent.
        grid = np.linspace(n_train - 1, 0, steps + 1)[:-1].round().astype(int)

        def noised(z, t):
            return a[t].sqrt() * z + (1 - a[t]).sqrt() * torch.randn(
                z.shape, generator=generator
            ).to(self.device)

        if start_latents is not None and start_step:
            start_step = min(int(start_step), steps - 1)
            first = schedule.index((start_step, start_step + 1))
            schedule = schedule[first:]
            t0 = int(grid[start_step])
            x = latent_mask * noised(start_latents.to(self.device), t0) + (
                1 - latent_mask
            ) * noised(known, t0)
        else:
            x = torch.randn(known.shape, generator=generator).to(self.device)
        for i_from, i_to in schedule:
            t = int(grid[i_from])
            if i_to > i_from:  # one DDIM step down, then paste the re-noised known region
                eps = self._eps(x, t)
                x0 = (x - (1 - a[t]).sqrt() * eps) / a[t].sqrt()
                if i_to < steps:
                    t_next = int(grid[i_to])
                    x_unknown = a[t_next].sqrt() * x0 + (1 - a[t_next]).sqrt() * eps
                    x = latent_mask * x_unknown + (1 - latent_mask) * noised(known, t_next)
                else:
                    x = latent_mask * x0 + (1 - latent_mask) * known
            else:  # resampling jump: diffuse forward from grid[i_from] to the noisier grid[i_to]
                ratio = a[int(grid[i_to])] / a[t]
                x = ratio.sqrt() * x + (1 - ratio).sqrt() * torch.randn(
                    x.shape, generator=generator
                ).to(self.device)
            done += 1
            if callback is not None and callback(done, total):
                raise Cancelled("inpainting cancelled")
        return x, done


def repaint_schedule(steps: int, jump_length: int, jump_n_sample: int) -> list[tuple[int, int]]:
    """Moves on the coarse time grid 0..steps (0 = most noisy, ``steps`` = clean).

    Each move is ``(i_from, i_to)``: ``i_to = i_from + 1`` denoises one step,
    ``i_to < i_from`` jumps back to more noise. After every ``jump_length`` denoising
    steps the sampler jumps back ``jump_length`` steps, ``jump_n_sample - 1`` times.
    """
    if steps < 1:
        raise InputError(f"steps must be >= 1, got {steps}")
    moves: list[tuple[int, int]] = []
    jumps_left = {}
    i = 0
    while i < steps:
        moves.append((i, i + 1))
        i += 1
        if jump_n_sample > 1 and i % jump_length == 0 and i < steps:
            left = jumps_left.setdefault(i, jump_n_sample - 1)
            if left > 0:
                jumps_left[i] = left - 1
                moves.append((i, i - jump_length))
                i -= jump_length
    return moves
