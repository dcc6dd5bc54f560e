"""Batched augmentations on `[B, T]` waveforms and the multi-view builder used by training.

`contract.py` says what every augmentation looks like (`Applied`, `draw`, `map_rows`); `base.py` holds
the base chain every head ignores, `variant.py` the variant ones LOEV keeps (pitch shift, time
stretch), `chain.py` runs a configured chain and builds training views; `dsp.py` the kernels.
"""

from loev_core.augment.base import (
    BASE_AUGMENTATIONS,
    colored_noise,
    compression,
    delay,
    distortion,
    filter,
    gain,
    polarity,
    reverb,
)
from loev_core.augment.chain import AUGMENTATIONS, Views, apply_chain, make_views
from loev_core.augment.contract import Applied
from loev_core.augment.variant import VARIANT_AUGMENTATIONS, octave_shift, pitch_shift, time_stretch

__all__ = [
    "AUGMENTATIONS", "Applied", "BASE_AUGMENTATIONS", "VARIANT_AUGMENTATIONS", "Views", "apply_chain",
    "colored_noise", "compression", "delay", "distortion", "filter", "gain", "make_views", "octave_shift",
    "pitch_shift", "polarity", "reverb", "time_stretch",
]
