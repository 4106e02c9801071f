"""Training configuration: TOML files and built-in presets, validated into dataclasses.

A config has the sections ``[data]``, ``[model]``, ``[loss]`` and ``[finetune]``
(autoencoder only), ``[optim]`` and ``[run]``. Unknown sections or keys are an error, so a typo never
silently falls back to a default. Values can be overridden from the command line
with ``--set section.key=value`` (the value is parsed as TOML).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..models.autoencoder import AutoencoderSettings
from ..models.unet import UNetSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

PRESET_DIR = Path(__file__).with_name("presets")
KINDS = ("vae", "ldm", "controlnet")


@dataclass(frozen=True)
class DataSettings:
    """Where the training images come from.

    ``dataset`` is a directory written by ``sd-train make-dataset``; relative paths
    are resolved against the current directory. ``encoding`` is the orientation
    encoding of channels 1-3 (see :mod:`dream3d_sd_filters.data.encoding`).
    """

    dataset: str = "data/tiny"
    encoding: str = "euler"
    image_size: int = 64
    max_images: int = 0  # 0 = all
    augment: bool = True


@dataclass(frozen=True)
class AutoencoderLossSettings:
    """Weights of the autoencoder loss terms (paper eq. 9).

    Reconstruction is ``l1 * |x - x'| + mse * (x - x')^2 + gradient * |grad x - grad x'|``
    with the phase channel weighted by ``phase_weight`` and the three orientation
    channels by ``orientation_weight``. For the first ``deterministic_steps`` steps the
    decoder sees the posterior mean instead of a sample (a plain autoencoder warm-up:
    the initial posterior noise, std ~1, otherwise swamps the latent). The perceptual
    and adversarial terms switch on at ``perceptual_start`` and ``adversarial_start``.
    """

    l1: float = 1.0
    mse: float = 1.0
    gradient: float = 0.5
    phase_weight: float = 1.0
    orientation_weight: float = 1.0
    kl: float = 1e-6
    deterministic_steps: int = 2000
    perceptual: float = 0.05
    perceptual_start: int = 2000
    adversarial: float = 0.05
    adversarial_start: int = 6000
    discriminator_lr: float = 2e-4


@dataclass(frozen=True)
class OptimSettings:
    """Optimiser and schedule: AdamW with linear warm-up and cosine decay to ``min_lr``."""

    lr: float = 1e-3
    min_lr: float = 1e-5
    warmup_steps: int = 200
    weight_decay: float = 0.0
    batch_size: int = 16
    gradient_accumulation: int = 1
    max_steps: int = 20000
    ema_decay: float = 0.999
    grad_clip: float = 1.0


@dataclass(frozen=True)
class RunSettings:
    """Bookkeeping: output folder, seeds, how often to log, sample, evaluate and checkpoint."""

    output_dir: str = "runs/vae-tiny"
    seed: int = 0
    log_every: int = 20
    sample_every: int = 500
    eval_every: int = 500
    eval_images: int = 256
    checkpoint_every: int = 500
    keep_checkpoints: int = 2
    mixed_precision: str = "no"
    tensorboard: bool = False
    num_workers: int = 0


@dataclass(frozen=True)
class LatentDiffusionSettings:
    """What the diffusion model is trained on: which autoencoder makes its latents.

    ``autoencoder`` is an ``sd-train vae`` final folder, or a pipeline folder or bundled
    model name (``"default"``), whose autoencoder is used.
    """

    autoencoder: str = "runs/vae-tiny/final"


@dataclass(frozen=True)
class ControlSettings:
    """What a ControlNet learns (see :mod:`dream3d_sd_filters.models.controlnet`).

    ``task`` is ``"orientation"`` (condition: the phase map) or ``"property"``
    (condition: the ``properties`` named here, read from the dataset's label files made
    by ``sd-train label``). ``base`` is the trained diffusion model the ControlNet is
    copied from and attached to (it stays frozen): an ``sd-train ldm`` final folder, or a
    pipeline folder or bundled model name (``"default"``), with ``[latent] autoencoder``
    naming the same pipeline. ``condition_dropout`` is the fraction
    of samples trained with the null condition, for classifier-free guidance.
    ``label_sources`` selects labels by how they were made ("micromagnetics",
    "surrogate").
    """

    task: str = "orientation"
    base: str = "runs/ldm-tiny/final"
    properties: tuple[str, ...] = ("coercivity",)
    condition_dropout: float = 0.1
    label_sources: tuple[str, ...] = ("micromagnetics", "surrogate")

    def __post_init__(self) -> None:
        from ..models.controlnet import CONTROL_TASKS

        object.__setattr__(self, "properties", tuple(self.properties))
        object.__setattr__(self, "label_sources", tuple(self.label_sources))
        if self.task not in CONTROL_TASKS:
            raise InputError(f"unknown ControlNet task {self.task!r}; use one of {CONTROL_TASKS}")
        if not 0 <= self.condition_dropout < 1:
            raise InputError(f"condition_dropout must lie in [0, 1), got {self.condition_dropout}")


FINETUNE_PARTS = ("all", "decoder", "refiner")


@dataclass(frozen=True)
class FineTuneSettings:
    """Start the autoencoder from trained weights instead of random ones.

    ``from_autoencoder`` is an ``sd-train vae`` final folder or a pipeline (``"default"``
    for the bundled model); a refiner it lacks starts as the identity. ``train`` is
    ``"all"``, ``"decoder"`` (the decoder and its refiner learn) or ``"refiner"`` (only the
    refiner learns). With either of the last two the encoder is fixed, so the latent space
    and every diffusion model trained on it stay valid.
    """

    from_autoencoder: str = ""
    train: str = "all"

    def __post_init__(self) -> None:
        if self.train not in FINETUNE_PARTS:
            raise InputError(
                f"[finetune] train must be one of {FINETUNE_PARTS}, got {self.train!r}"
            )
        if self.keeps_latent_space and not self.from_autoencoder:
            raise InputError(f"[finetune] train = {self.train!r} needs from_autoencoder")

    @property
    def keeps_latent_space(self) -> bool:
        """Whether the encoder stays fixed, so latents of the start autoencoder stay valid."""
        return self.train != "all"


@dataclass(frozen=True)
class TrainConfig:
    """A whole training configuration."""

    kind: str
    data: DataSettings = field(default_factory=DataSettings)
    model: Any = None
    optim: OptimSettings = field(default_factory=OptimSettings)
    run: RunSettings = field(default_factory=RunSettings)
    loss: AutoencoderLossSettings | None = None
    latent: LatentDiffusionSettings | None = None
    control: ControlSettings | None = None
    finetune: FineTuneSettings | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (TOML/JSON serialisable)."""
        out = dataclasses.asdict(self)
        return {k: v for k, v in out.items() if v is not None}


_SECTIONS: dict[str, dict[str, type]] = {
    "vae": {
        "data": DataSettings,
        "model": AutoencoderSettings,
        "loss": AutoencoderLossSettings,
        "finetune": FineTuneSettings,
        "optim": OptimSettings,
        "run": RunSettings,
    },
    "ldm": {
        "data": DataSettings,
        "model": UNetSettings,
        "latent": LatentDiffusionSettings,
        "optim": OptimSettings,
        "run": RunSettings,
    },
    "controlnet": {
        "data": DataSettings,
        "latent": LatentDiffusionSettings,
        "control": ControlSettings,
        "optim": OptimSettings,
        "run": RunSettings,
    },
}


def _parse_override(text: str) -> tuple[str, str, Any]:
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise InputError(f"--set expects section.key=value, got {text!r}")
    dotted, raw = text.split("=", 1)
    section, key = dotted.strip().split(".", 1)
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # bare words are strings, e.g. --set data.dataset=data/tiny
    return section, key, value


def _build(cls: type, values: dict[str, Any], where: str):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(
            f"unknown key(s) {', '.join(unknown)} in [{where}]; known keys: {', '.join(sorted(known))}"
        )
    defaults = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in values.items():
        default = defaults[key].default
        if isinstance(default, bool) and not isinstance(value, bool):
            raise InputError(f"[{where}] {key} must be true or false, got {value!r}")
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"[{where}] {key} must be a number, got {value!r}")
    try:
        return cls(**values)
    except TypeError as error:
        raise InputError(f"bad [{where}] section: {error}") from None


def resolve_config_path(source: str | Path, kind: str) -> Path:
    """A config file path, or the built-in preset ``<kind>-<name>.toml`` for a bare name."""
    path = Path(source)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise InputError(f"config file {str(path)!r} does not exist")
        return path
    preset = PRESET_DIR / f"{kind}-{source}.toml"
    if not preset.is_file():
        names = sorted(p.stem.split("-", 1)[1] for p in PRESET_DIR.glob(f"{kind}-*.toml"))
        raise InputError(
            f"no config file or preset named {str(source)!r}; presets: {', '.join(names)}"
        )
    return preset


def load_config(source: str | Path, kind: str, overrides: tuple[str, ...] = ()) -> TrainConfig:
    """Read, override and validate a training config.

    Parameters
    ----------
    source : str or Path
        A TOML file, or a preset name (``"tiny"``, ``"paper"``).
    kind : {"vae", "ldm"}
        Which model the config trains.
    overrides : tuple of str
        ``section.key=value`` strings applied after reading the file.

    Returns
    -------
    TrainConfig

    Raises
    ------
    InputError
        For a missing file, a TOML syntax error, an unknown section or key, or a bad value.
    """
    if kind not in KINDS:
        raise InputError(f"unknown model kind {kind!r}; use one of {KINDS}")
    path = resolve_config_path(source, kind)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{path}: invalid TOML: {error}") from None
    declared = raw.pop("kind", kind)
    if declared != kind:
        raise InputError(f"{path} is a {declared!r} config, not {kind!r}")
    for text in overrides:
        section, key, value = _parse_override(text)
        raw.setdefault(section, {})[key] = value
    sections = _SECTIONS[kind]
    unknown = sorted(set(raw) - set(sections))
    if unknown:
        raise InputError(
            f"unknown section(s) {', '.join(unknown)} in {path}; known: {', '.join(sections)}"
        )
    built = {}
    for name, cls in sections.items():
        values = raw.get(name, {})
        if not isinstance(values, dict):
            raise InputError(f"[{name}] in {path} must be a table")
        built[name] = _build(cls, values, name)
    if "finetune" in built and built["finetune"].train == "refiner":
        if not built["model"].refiner_blocks:
            raise InputError("[finetune] train = 'refiner' needs model.refiner_blocks > 0")
    if "control" in built:
        # One preset serves both ControlNet tasks: "{task}" in output_dir names the run.
        built["run"] = dataclasses.replace(
            built["run"],
            output_dir=built["run"].output_dir.replace("{task}", built["control"].task),
        )
    return TrainConfig(kind=kind, **built)
