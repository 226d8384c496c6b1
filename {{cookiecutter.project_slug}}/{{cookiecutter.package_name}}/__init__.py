"""Data processing, training, validation and serving of one model, as one package."""

__version__ = "0.1.0"
