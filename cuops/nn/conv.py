"""cuops.nn.Conv2d: a drop-in for torch.nn.Conv2d running cuops.conv2d.

Same constructor, parameters, state_dict and reset_parameters as
torch.nn.Conv2d (it is a subclass; only the convolution itself changes), so
weights load both ways. padding_mode "zeros" is the kernels' implicit
padding; "reflect", "replicate" and "circular" pad the input with torch's
F.pad first (pure data movement, as torch.nn.Conv2d itself does) and then
convolve with padding 0. `variant` (keyword only) pins a kernel variant.
"""

import torch
import torch.nn.functional as F

from ..ops.conv2d import conv2d

_MODES = ("zeros", "reflect", "replicate", "circular")


class Conv2d(torch.nn.Conv2d):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=None, *,
                 variant=None):
        if padding_mode not in _MODES:
            raise ValueError(f"cuops.nn.Conv2d: padding_mode must be one of {_MODES}, but got "
                             f"{padding_mode!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, groups=groups, bias=bias, padding_mode=padding_mode,
                         device=device, dtype=dtype)
        self.variant = variant

    def _conv_forward(self, input, weight, bias):
        if self.padding_mode != "zeros":
            input = F.pad(input, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return conv2d(input, weight, bias, self.stride, 0, self.dilation, self.groups,
                          variant=self.variant)
        return conv2d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups,
                      variant=self.variant)

    @classmethod
    def from_torch(cls, m: torch.nn.Conv2d, variant=None) -> "Conv2d":
        """A cuops Conv2d with the same configuration and (shared) parameters."""
        new = cls(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                  m.groups, m.bias is not None, m.padding_mode, device=m.weight.device,
                  dtype=m.weight.dtype, variant=variant)
        new.weight = m.weight
        new.bias = m.bias
        return new
