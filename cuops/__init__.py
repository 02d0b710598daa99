"""cuops: hand-written CPU and CUDA operators for PyTorch.

    import cuops
    y = cuops.add(a, b, alpha=2)          # also torch.ops.cuops.add
    y = cuops.matmul(a, b)                # torch.matmul semantics
    cuops.variants("add")                 # the kernel ladder of an op

Every op is a real PyTorch custom op (torch.ops.cuops.*): it works with
autograd, torch.compile(fullgraph=True), torch.export and opcheck.
"""

import torch  # noqa: F401  (load torch's libraries before ours)

from . import _C  # noqa: F401  (loads the kernels; runs the TORCH_LIBRARY registrations)
from .ops import add, conv2d, gemm, linear, matmul, sum_to
from .variants import cuda_built, use_variant, variants

from . import nn  # noqa: E402,I001  (cuops.nn.Linear, cuops.nn.Conv2d; after the ops they use)
from .nn import convert  # noqa: E402

__all__ = ["add", "sum_to", "matmul", "linear", "gemm", "conv2d", "nn", "convert", "variants",
           "use_variant", "cuda_built"]
__version__ = "0.1.0"
