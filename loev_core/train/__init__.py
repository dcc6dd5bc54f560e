"""Training: data pipeline, distributed helpers, resumable state and the loop."""
