"""cuops.nn.Linear: a drop-in for torch.nn.Linear running on cuops.linear."""

import torch

from ..ops.matmul import linear


class Linear(torch.nn.Linear):
    """torch.nn.Linear (same constructor, parameters `weight` [out, in] and
    `bias` [out], state_dict keys, reset_parameters and init), whose forward
    is cuops.linear: y = x @ weight.T + bias with the bias added in the GEMM
    epilogue, and weight.T read as a strided view (no transposed copy).

    A state_dict saved from torch.nn.Linear loads as is, and back."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return linear(input, self.weight, self.bias)
