// The conv2d tuning tables' knob (tuning.h) and their sizes for Python
// (kernels.h: conv2d_tuning_tables; cuops.ops.conv2d.TUNING_TABLES).
#include "cuda/conv2d/tuning.h"

#include "cuda/conv2d/kernels.h"
#include "cuda/cuda_utils.cuh"

namespace cuops::cuda {

int conv::conv_config(const char* variant, int entries) {
  static const std::string knob = getenv_string("CUOPS_CONV_CONFIG");
  const int cfg = tuning_config(knob, "CUOPS_CONV_CONFIG", variant);
  TORCH_CHECK_VALUE(cfg >= 0 && cfg < entries, "CUOPS_CONV_CONFIG: ", variant, "=", cfg,
                    " is out of range (0..", entries - 1, ")");
  return cfg;
}

std::vector<std::pair<std::string, int>> conv2d_tuning_tables() {
  return {{"implicit_gemm_mma_splitk", conv::kSplitConfigs},
          {"implicit_gemm_mma", conv::kTileConfigs},
          {"depthwise_nhwc_window", conv::kWindowConfigs},
          {"implicit_gemm_wgmma", conv::kWgmmaConfigs}};
}

}  // namespace cuops::cuda
