"""Build script for the cuops extension (`cuops._C`).

The extension is always built with its CPU kernels. The CUDA kernels are added
when torch was built with CUDA and a CUDA toolkit (nvcc) is found. Environment:

  CUOPS_CUDA=1      require the CUDA build (fail if torch/nvcc cannot do it)
  CUOPS_CUDA=0      force a CPU-only build
  TORCH_CUDA_ARCH_LIST  target architectures; defaults to the local GPU, or to
                    "8.0;9.0" when no GPU is visible (a build machine without one)
  MAX_JOBS          parallel compile jobs (ninja)

See docs/building.md for the traps this script works around.
"""

import glob
import importlib.util
import os
import sys

from setuptools import setup

# Trap 1: torch guesses CUDA_HOME from `which nvcc`; a wrapper in
# /usr/local/bin makes that /usr/local, and linking then fails on -lcudart.
# Resolve it before cpp_extension reads it at import time.
if not os.environ.get("CUDA_HOME") and not os.environ.get("CUDA_PATH"):
    if os.path.exists("/usr/local/cuda/bin/nvcc"):
        os.environ["CUDA_HOME"] = "/usr/local/cuda"

import torch  # noqa: E402
from torch.utils import cpp_extension as ce  # noqa: E402

ROOT = os.path.dirname(os.path.abspath(__file__))


def _want_cuda() -> bool:
    mode = os.environ.get("CUOPS_CUDA", "auto").strip().lower()
    possible = torch.version.cuda is not None and ce.CUDA_HOME is not None
    if mode in ("0", "false", "no", "off"):
        return False
    if mode in ("1", "true", "yes", "on"):
        if not possible:
            sys.exit(
                "CUOPS_CUDA=1 but a CUDA build is impossible: "
                f"torch.version.cuda={torch.version.cuda!r}, CUDA_HOME={ce.CUDA_HOME!r}"
            )
        return True
    return possible


def _extra_cuda_includes() -> list:
    """Trap 2: a minimal toolkit lacks cusparse.h & co, which ATen/cuda headers
    include. torch's own nvidia-* wheels ship them; add those include dirs."""
    if os.path.exists(os.path.join(ce.CUDA_HOME, "include", "cusparse.h")):
        return []
    spec = importlib.util.find_spec("nvidia")
    dirs = []
    for base in list(spec.submodule_search_locations) if spec else []:
        dirs += sorted(glob.glob(os.path.join(base, "cu*", "include")))
        dirs += sorted(glob.glob(os.path.join(base, "*", "include")))
    return [d for d in dirs if os.path.exists(os.path.join(d, "cusparse.h"))][:1]


def _set_arch_list() -> None:
    """Trap 3: with no GPU visible and no arch list, cpp_extension crashes
    (IndexError in _get_cuda_arch_flags). Give the portable default."""
    if os.environ.get("TORCH_CUDA_ARCH_LIST"):
        return
    if not torch.cuda.is_available():
        os.environ["TORCH_CUDA_ARCH_LIST"] = "8.0;9.0"


def extensions():
    use_cuda = _want_cuda()
    sources = sorted(glob.glob("csrc/*.cpp")) + sorted(glob.glob("csrc/cpu/**/*.cpp", recursive=True))
    # Trap 4: no -std flag; torch picks the C++ standard its headers need.
    cxx = ["-O3", "-fopenmp"]  # at::parallel_for is OpenMP inlined into our TU
    link = ["-fopenmp"]
    includes = [os.path.join(ROOT, "csrc")]
    if not use_cuda:
        print("cuops: building the CPU-only extension", flush=True)
        return [ce.CppExtension("cuops._C", sources, include_dirs=includes,
                                extra_compile_args={"cxx": cxx}, extra_link_args=link)]
    _set_arch_list()
    print(f"cuops: building with CUDA (CUDA_HOME={ce.CUDA_HOME}, "
          f"arch list={os.environ.get('TORCH_CUDA_ARCH_LIST', 'local GPU')})", flush=True)
    sources += sorted(glob.glob("csrc/cuda/**/*.cu", recursive=True))
    sources += sorted(glob.glob("csrc/cuda/**/*.cpp", recursive=True))
    nvcc = ["-O3", "-lineinfo", "--expt-relaxed-constexpr",
            "-Xptxas=-warn-spills"]
    return [ce.CUDAExtension(
        "cuops._C", sources,
        include_dirs=includes + _extra_cuda_includes(),
        define_macros=[("CUOPS_WITH_CUDA", None)],
        extra_compile_args={"cxx": cxx, "nvcc": nvcc},
        extra_link_args=link,
    )]


setup(
    ext_modules=extensions(),
    cmdclass={"build_ext": ce.BuildExtension.with_options(use_ninja=True)},
)
