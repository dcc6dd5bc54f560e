"""Frozen experiment configuration, saved inside every checkpoint (strict loading: `loev_core.config_parse`).

Strictness is the point: a typo in a key or a wrong type must fail loudly at load time, naming the
key, instead of silently training the wrong model for hours.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

FORMAT_VERSION = 1
MODEL_KINDS = ("simclr", "loev", "loevpp")
ENCODERS = ("compact", "compact_rhythm", "resnet")  # names of model.encoders.ENCODER_BUILDERS
GRADED_FORMS = ("bce", "log")  # names of losses.GRADED_FORMS (config stays free of torch)
CROPS = ("same", "adjacent", "random")
# The ranges training draws the variant augmentations from (AugmentConfig.variant's defaults). The
# augmentations' own defaults, evaluation's transformed queries and shift probe, the time-stretch curves
# and the dashboard's controls are derived from these.
PITCH_SHIFT_RANGE: tuple[float, float] = (-4.0, 4.0)  # semitones
TIME_STRETCH_RANGE: tuple[float, float] = (0.7, 1.3)  # playback rate (> 1: faster)


def stretch_rates(step: float) -> list[float]:
    """TIME_STRETCH_RANGE from end to end in steps of `step` (rounded to 0.01): curve and trajectory rates."""
    low, high = TIME_STRETCH_RANGE
    return [round(low + step * i, 2) for i in range(round((high - low) / step) + 1)]


class ConfigError(ValueError):
    """A configuration is malformed: unknown key, wrong type or impossible value."""


@dataclass(frozen=True)
class AudioConfig:
    sample_rate: int = 16000
    clip_seconds: float = 3.0
    n_mels: int = 96
    n_fft: int = 2048
    win_length: int = 400
    hop_length: int = 160
    f_min: float = 0.0
    f_max: float = 8000.0

    def validate(self) -> None:
        _positive(self, "sample_rate", "clip_seconds", "n_mels", "n_fft", "win_length", "hop_length")
        if self.win_length > self.n_fft:
            raise ConfigError("audio.win_length must be <= audio.n_fft")
        if not 0 <= self.f_min < self.f_max <= self.sample_rate / 2:
            raise ConfigError("audio.f_min/f_max must satisfy 0 <= f_min < f_max <= sample_rate/2")

    @property
    def clip_samples(self) -> int:
        return int(round(self.sample_rate * self.clip_seconds))


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation chains: name -> keyword arguments of the named function in `loev_core.augment`."""

    n_views: int = 2
    crop: str = "same"
    base: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "gain": {"p": 0.5}, "polarity": {"p": 0.5}, "colored_noise": {"p": 0.5},
        "filter": {"p": 0.5}, "reverb": {"p": 0.5}, "delay": {"p": 0.5},
        "distortion": {"p": 0.5}, "compression": {"p": 0.5},
    })
    variant: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        "pitch_shift": {"p": 0.5, "low": PITCH_SHIFT_RANGE[0], "high": PITCH_SHIFT_RANGE[1]},
        "time_stretch": {"p": 0.5, "low": TIME_STRETCH_RANGE[0], "high": TIME_STRETCH_RANGE[1]},
    })

    def validate(self) -> None:
        _positive(self, "n_views")
        if self.n_views < 2:
            raise ConfigError("augment.n_views must be >= 2 (contrastive learning needs pairs)")
        if self.crop not in CROPS:
            raise ConfigError(f"augment.crop must be one of {CROPS}, got {self.crop!r}")
        for chain in ("base", "variant"):
            for name, kwargs in getattr(self, chain).items():
                if not isinstance(kwargs, dict):
                    raise ConfigError(f"augment.{chain}.{name} must be a mapping of arguments")
                p = kwargs.get("p", 0.5)
                if not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
                    raise ConfigError(f"augment.{chain}.{name}.p must be a probability in [0, 1]")


@dataclass(frozen=True)
class ModelConfig:
    kind: str = "loev"
    encoder: str = "compact_rhythm"  # what every bundled model uses
    width: int = 32
    variant_augs: tuple[str, ...] = ("pitch_shift", "time_stretch")
    head_hidden: int = 512
    head_out: int = 128

    def validate(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ConfigError(f"model.kind must be one of {MODEL_KINDS}, got {self.kind!r}")
        if self.encoder not in ENCODERS:
            raise ConfigError(f"model.encoder must be one of {ENCODERS}, got {self.encoder!r}")
        _positive(self, "width", "head_hidden", "head_out")
        if self.kind in ("loev", "loevpp") and not self.variant_augs:
            raise ConfigError(f"model.variant_augs must not be empty for model.kind={self.kind!r}")
        if len(set(self.variant_augs)) != len(self.variant_augs):
            raise ConfigError("model.variant_augs has duplicates")

    @property
    def heads(self) -> tuple[str, ...]:
        """Projection heads: the invariant one, plus one per variant augmentation for LOEV/LOEV++."""
        return ("invariant",) if self.kind == "simclr" else ("invariant", *self.variant_augs)


@dataclass(frozen=True)
class LossConfig:
    temperature: float = 0.1
    weights: dict[str, float] = field(default_factory=dict)  # head -> weight; missing heads weigh 1
    # variant head -> scale in the augmentation's units (semitones, rate): train that head with graded
    # positives (losses.graded_nt_xent), so its distances grow with how far the views differ; empty = paper
    graded: dict[str, float] = field(default_factory=dict)
    # temperature of the graded heads (0 = loss.temperature): the optimum similarity falls by about
    # temperature / scale per unit, so this sets how far apart the graded head spreads the views
    graded_temperature: float = 0.0
    # graded loss: "bce" (cross-entropy against w) or "log" (squared error of log p against log w, whose
    # gradient does not fade for distant views); both have the optimum p = w (losses.GRADED_FORMS). "log"
    # orders distant views better but can shrink the whole pitch space (docs/experiments.md)
    graded_form: str = "bce"

    def validate(self) -> None:
        if not self.temperature > 0:
            raise ConfigError(f"loss.temperature must be > 0, got {self.temperature}")
        for k, w in self.weights.items():
            if not isinstance(w, (int, float)) or w < 0:
                raise ConfigError(f"loss.weights.{k} must be a non-negative number")
        if self.graded_temperature < 0:
            raise ConfigError(f"loss.graded_temperature must be >= 0, got {self.graded_temperature}")
        if self.graded_form not in GRADED_FORMS:
            raise ConfigError(f"loss.graded_form must be one of {GRADED_FORMS}, got {self.graded_form!r}")
        for k, scale in self.graded.items():
            if not scale > 0:
                raise ConfigError(f"loss.graded.{k} must be a positive scale, got {scale!r}")


@dataclass(frozen=True)
class TrainConfig:
    data: str = ""
    batch_size: int = 32
    steps: int = 1000
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup_steps: int = 100
    accumulate: int = 1
    num_workers: int = 2
    checkpoint_every: int = 200
    log_every: int = 10
    seed: int = 0
    precision: str = "auto"  # auto | fp32 | bf16 | fp16 (mixed precision on GPU only)
    split: str = "train"  # manifest rows used for training ("" = all rows of a manifest without other splits,
    # "*" = every row whatever its split: `loev train` refuses "" when the manifest also has test rows)
    cache_audio: bool = False  # decode the whole corpus into memory once (small corpora, few cores)
    # fine-tuning: start from the weights of this checkpoint (same architecture; Adam starts fresh), and
    # train only parameters whose names start with one of `trainable` (empty: all), e.g. heads.pitch_shift
    init: str = ""
    trainable: tuple[str, ...] = ()
    # a second corpus mixed into every batch (e.g. real recordings beside the generated set): its `mix_split`
    # rows fill `mix_share` of each batch's places on average, whatever the two corpora's sizes
    mix_data: str = ""
    mix_split: str = "train"
    mix_share: float = 0.0
    # hard negatives: a track long enough for this many disjoint windows, drawn into a batch, brings this many
    # crops of itself (one per k-th of the track), each a negative of the others; 1 = one crop per draw.
    # mix_share counts places, so it keeps its meaning (a long mix track is drawn k times less often)
    track_crops: int = 1

    def validate(self) -> None:
        _positive(self, "batch_size", "steps", "lr", "accumulate", "checkpoint_every", "log_every", "track_crops")
        if self.batch_size < 2:  # one clip per batch has no negatives: every loss is 0 and nothing is learnt
            raise ConfigError(f"train.batch_size must be >= 2 (contrastive learning needs other clips), got "
                              f"{self.batch_size}")
        if self.warmup_steps < 0 or self.num_workers < 0:
            raise ConfigError("train.warmup_steps and train.num_workers must be >= 0")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise ConfigError("train.precision must be auto, fp32, bf16 or fp16")
        if not 0.0 <= self.mix_share < 1.0:
            raise ConfigError(f"train.mix_share must be in [0, 1), got {self.mix_share!r}")
        if bool(self.mix_data) != (self.mix_share > 0):
            raise ConfigError("train.mix_data and train.mix_share > 0 go together (a corpus, its share of a batch)")
        if any(not isinstance(p, str) or not p for p in self.trainable):
            raise ConfigError("train.trainable must be a list of parameter-name prefixes, e.g. [heads.pitch_shift]")


@dataclass(frozen=True)
class ExperimentConfig:
    audio: AudioConfig = field(default_factory=AudioConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> ExperimentConfig:
        for f in dataclasses.fields(self):
            getattr(self, f.name).validate()
        if self.model.kind != "simclr":
            missing = [a for a in self.model.variant_augs if a not in self.augment.variant]
            if missing:
                raise ConfigError(f"model.variant_augs {missing} are not in augment.variant")
        heads = () if self.model.kind == "simclr" else self.model.variant_augs
        stray = [h for h in self.loss.graded if h not in heads]
        if stray:
            raise ConfigError(f"loss.graded names {stray}, which are not variant heads of this model {heads}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(dataclasses.asdict(self))


def _to_plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    return obj


def _positive(cfg: Any, *names: str) -> None:
    section = type(cfg).__name__.removesuffix("Config").lower()
    for n in names:
        if not getattr(cfg, n) > 0:
            raise ConfigError(f"{section}.{n} must be > 0, got {getattr(cfg, n)!r}")
