"""Python side of each op: the public function, its fake (meta) kernel for
torch.compile/export, and its autograd formula. One module per op."""

from .add import add, sum_to
from .conv2d import conv2d
from .matmul import gemm, linear, matmul

__all__ = ["add", "sum_to", "matmul", "linear", "gemm", "conv2d"]
