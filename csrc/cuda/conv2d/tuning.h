// Development tuning tables of the conv2d CUDA steps, selected with
// CUOPS_CONV_CONFIG="<variant>=<i>[,<variant>=<i>]" (read once per process;
// scripts/explore/tune_conv.py sweeps them, one process per entry). Entry 0
// is the step's own choice and, except for implicit_gemm_wgmma's (below),
// the only entry of a product build; a build with CUOPS_EXPLORE=1
// (setup.py: -DCUOPS_EXPLORE) compiles the others.
// cuops.ops.conv2d.TUNING_TABLES reads these sizes (conv2d_tuning_tables()).
#pragma once

namespace cuops::cuda::conv {

#ifdef CUOPS_EXPLORE
// implicit_gemm_mma: a forced kernel configuration for every tensor-core
// forward (implicit_gemm_mma_explore.cu).
constexpr int kTileConfigs = 12;
// implicit_gemm_mma_splitk: a forced tile and split count (split_choice).
constexpr int kSplitConfigs = 8;
// depthwise_nhwc_window: strip lengths and row unrolling (kWindowTable).
constexpr int kWindowConfigs = 5;
#else
constexpr int kTileConfigs = 1, kSplitConfigs = 1, kWindowConfigs = 1;
#endif
// implicit_gemm_wgmma (forward, and the wgrad's kernel): 0 = each consumer
// waits for its wgmma batch, 1 = one batch left in flight, 2 = as 0 but with
// the forward's direct epilogue (no staging of y). In every build: the
// entries differ by one wait or one flag.
constexpr int kWgmmaConfigs = 3;

// The entry CUOPS_CONV_CONFIG selects for `variant` (0 when not named),
// range-checked against `entries`.
int conv_config(const char* variant, int entries);

}  // namespace cuops::cuda::conv
