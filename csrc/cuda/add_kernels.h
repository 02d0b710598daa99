// The CUDA launchers of cuops.add's ladder steps and of cuops.sum_to
// (csrc/cuda/add_kernels.cu), called by the ladder in add_cuda.cpp for a
// checked plan: each dispatches on the dtype and launches on the current
// stream, launch-checked.
#pragma once

#include "add.h"

namespace cuops::cuda {

void add_grid_stride(const AddPlan& p, const c10::Scalar& alpha);  // 1. any strides
void add_vec16(const AddPlan& p, const c10::Scalar& alpha);        // 2. 16-byte vectors
void add_vec16x4(const AddPlan& p, const c10::Scalar& alpha);      // 3. 4 vectors in flight
void sum_to_launch(const SumToPlan& p, const c10::Scalar& scale);

}  // namespace cuops::cuda
