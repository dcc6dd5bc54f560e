"""Front end, encoders and the LOEV model."""

from loev_core.model.loev import LOEVModel, build_model

__all__ = ["LOEVModel", "build_model"]
