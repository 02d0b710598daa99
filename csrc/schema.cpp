// Every cuops operator's signature, declared once. Kernels are registered per
// backend next to the kernel code (TORCH_LIBRARY_IMPL(cuops, CPU/CUDA, m));
// the fake kernels are C++ next to each op's checks (csrc/<op>.cpp, *_meta),
// registered from Python (csrc/module.cpp says why); autocast is in
// csrc/autocast.cpp; autograd formulas of gemm and conv2d are C++
// (csrc/<op>_autograd.cpp: host time per layer), add's and sum_to's Python
// (cuops/ops/add.py).
//
// `variant` picks a step of the op's kernel ladder by name (None = the
// fastest correct one for the dtype); list them with cuops.variants(op).
#include <torch/library.h>

TORCH_LIBRARY(cuops, m) {
  // ---- add ---------------------------------------------------------------
  // out = a + alpha * b, broadcasting, torch type promotion.
  m.def("add(Tensor a, Tensor b, Scalar alpha=1, str? variant=None) -> Tensor");
  // Sum `x` down to the broadcast-compatible shape `size`, times `scale`:
  // the backward of any broadcasting op (a gradient reduced over the
  // dimensions that were broadcast). Always returns a new tensor.
  m.def("sum_to(Tensor x, SymInt[] size, Scalar scale=1) -> Tensor");

  // ---- matmul ------------------------------------------------------------
  // (cuops/ops/matmul.py and csrc/*/matmul* own this section)
  // The one kernel-backed op: a [..., M, K] @ b [..., K, N] (both at least
  // 2-D, batch dims broadcast) + bias [N] fused in the epilogue. CPU and CUDA
  // kernels; autograd (through gemm itself) in csrc/matmul_autograd.cpp.
  m.def("gemm(Tensor a, Tensor b, Tensor? bias=None, str? variant=None) -> Tensor");
  // torch.matmul semantics (1-D and 2-D mixes, batched with broadcast).
  // CompositeImplicitAutograd: views around gemm, so autograd, compile and
  // export see gemm.
  m.def("matmul(Tensor a, Tensor b, str? variant=None) -> Tensor");
  // torch.nn.functional.linear: input [..., K] @ weight[N, K]^T + bias, the
  // bias fused (CompositeImplicitAutograd over gemm(input, weight.mT, bias)).
  m.def("linear(Tensor input, Tensor weight, Tensor? bias=None, str? variant=None) -> Tensor");
  // ---- end matmul --------------------------------------------------------

  // ---- conv2d ------------------------------------------------------------
  // (cuops/ops/conv2d.py and csrc/*/conv2d* own this section)
  // F.conv2d with explicit padding (top, bottom, left, right): the Python
  // wrapper cuops.conv2d turns ints, pairs, "same" and "valid" into it
  // ("same" with an even dilated kernel pads one more at the bottom/right, as
  // torch does). input is (N, C, H, W) or unbatched (C, H, W).
  m.def("conv2d(Tensor input, Tensor weight, Tensor? bias=None, int[2] stride=1, "
        "int[4] padding=0, int[2] dilation=1, int groups=1, str? variant=None) -> Tensor");
  // Gradient of conv2d w.r.t. its input (dgrad), for a 4-D input of
  // `input_size`; the bias gradient is sum_to(grad_output).
  m.def("conv2d_backward_input(Tensor grad_output, Tensor weight, SymInt[4] input_size, "
        "int[2] stride, int[4] padding, int[2] dilation, int groups, str? variant=None) "
        "-> Tensor");
  // Gradient of conv2d w.r.t. its weight (wgrad), for a weight of `weight_size`.
  m.def("conv2d_backward_weight(Tensor grad_output, Tensor input, SymInt[4] weight_size, "
        "int[2] stride, int[4] padding, int[2] dilation, int groups, str? variant=None) "
        "-> Tensor");
  // ---- end conv2d --------------------------------------------------------
}
