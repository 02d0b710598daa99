"""Drop-in replacements for torch.nn layers, and a model converter."""

from .conv import Conv2d
from .convert import convert
from .linear import Linear

__all__ = ["Linear", "Conv2d", "convert"]
