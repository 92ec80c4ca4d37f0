"""textclf: config-driven text classification with PyTorch."""

__version__ = "0.1.0"

__all__ = ["__version__"]
