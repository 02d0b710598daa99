"""Build script for the cuops extension (`cuops._C`).

The extension is always built with its CPU kernels. The CUDA kernels are added
when a GPU is visible (torch.cuda.is_available()) and a CUDA toolkit (nvcc) is
found, or when the build is forced. Environment:

  CUOPS_CUDA=1 or FORCE_CUDA=1  build the CUDA kernels without a GPU (fail if
                    torch has no CUDA or nvcc is missing): CI's compile check
  CUOPS_CUDA=0      CPU-only build, even with a GPU
  TORCH_CUDA_ARCH_LIST  target architectures; defaults to the local GPU, or to
                    "8.0;9.0" when no GPU is visible (a build machine without one);
                    a 9.0 target is built as 9.0a (sm_90a: wgmma, setmaxnreg)
  MAX_JOBS          parallel compile jobs (default: the number of CPU cores)
  CUOPS_EXPLORE=1   also compile the CUDA kernels' development tuning tables
                    (-DCUOPS_EXPLORE; CUOPS_*_CONFIG entries beyond 0, swept by
                    scripts/explore/)

torch is not a build requirement: build with `pip install --no-build-isolation .`
against the torch that will import the result. See docs/building.md for that
and for the traps this script works around.
"""

import glob
import inspect
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

# Metadata and the sdist need no torch; only compiling does (and only then is
# it imported: pip runs this script once for the metadata, once to build).
BUILDING = bool({"build", "build_ext", "bdist_wheel", "editable_wheel", "develop", "install",
                 "bdist_egg"} & set(sys.argv[1:]))
torch = None
try:
    if BUILDING:
        import torch
        from torch.utils import cpp_extension as ce
except ModuleNotFoundError as e:
    if e.name != "torch":
        raise
    sys.exit(
        f"cuops: cannot build: torch cannot be imported here ({sys.executable}).\n"
        "cuops compiles against the torch it will run with. If your environment has torch,\n"
        "this is pip's build isolation (a temporary environment without torch): add\n"
        "--no-build-isolation. Otherwise install torch first:\n"
        "    pip install torch\n"
        "    pip install --no-build-isolation .     (or a cuops-*.tar.gz sdist instead of .)\n"
        "See docs/building.md."
    )

ROOT = os.path.dirname(os.path.abspath(__file__))
_ON = ("1", "true", "yes", "on")


def _want_cuda() -> bool:
    mode = os.environ.get("CUOPS_CUDA", "").strip().lower()
    forced = mode in _ON or os.environ.get("FORCE_CUDA", "").strip().lower() in _ON
    possible = torch.version.cuda is not None and ce.CUDA_HOME is not None
    if mode in ("0", "false", "no", "off"):
        return False
    if forced:
        if not possible:
            sys.exit(
                "cuops: CUOPS_CUDA=1/FORCE_CUDA=1 but a CUDA build is impossible: "
                f"torch.version.cuda={torch.version.cuda!r}, CUDA_HOME={ce.CUDA_HOME!r}"
            )
        return True
    if not torch.cuda.is_available():
        # Compiling the CUDA kernels takes ~10 minutes on 2 cores: not for a
        # machine that cannot run them.
        if possible:
            print("cuops: no GPU visible: CPU-only build (FORCE_CUDA=1 builds the CUDA kernels "
                  "anyway)", flush=True)
        return False
    if not possible:
        print(f"cuops: a GPU is visible but no CUDA build is possible (torch.version.cuda="
              f"{torch.version.cuda!r}, CUDA_HOME={ce.CUDA_HOME!r}; nvcc not found?): CPU-only "
              "build", flush=True)
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
    (IndexError in _get_cuda_arch_flags). Give the portable default.

    A 9.0 target is built as 9.0a (sm_90a): matmul's wgmma step needs
    Hopper's arch-specific instructions (wgmma, setmaxnreg), and sm_90a code
    runs on every compute-capability-9.0 GPU (H100, H200). Other targets are
    left as they are; their builds route that step to mma_sync at run time."""
    archs = os.environ.get("TORCH_CUDA_ARCH_LIST", "").strip()
    if not archs:
        if not torch.cuda.is_available():
            archs = "8.0;9.0"
        else:  # the local GPUs' targets, as cpp_extension would pick them
            caps = sorted({torch.cuda.get_device_capability(i)
                           for i in range(torch.cuda.device_count())})
            if (9, 0) not in caps:
                return
            archs = ";".join(f"{major}.{minor}" for major, minor in caps)
    try:
        knows_90a = "'9.0a'" in inspect.getsource(ce._get_cuda_arch_flags)
    except (OSError, TypeError):  # no source to read: leave the list as it is
        knows_90a = False
    if knows_90a:
        archs = ";".join("9.0a" + a[3:] if a.split("+")[0] == "9.0" else a
                         for a in archs.replace(" ", ";").split(";") if a)
    os.environ["TORCH_CUDA_ARCH_LIST"] = archs


def _runtime_libstdcxx() -> list:
    """Trap 5: link against the libstdc++ this Python process runs with.

    A toolchain built for an older system (a devtoolset-style GCC, as torch's
    own wheels use) links libstdc++ through a script that pulls every symbol
    its reference runtime lacks from a static archive into the extension. On
    a machine whose runtime libstdc++ is newer, those private copies run
    against the shared library's objects: on the GPU machine (torch 2.11,
    /opt/gcc/bin/g++ 13.3) formatting an int64 into an error message crashed
    inside the extension's copy of std::ostream::_M_insert<long> (2026-12-07;
    docs/building.md). Naming the loaded libstdc++.so first resolves them
    there, so nothing is copied; where the toolchain links that same library
    anyway, this changes nothing."""
    if not sys.platform.startswith("linux"):
        return []
    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "libstdc++.so" in line}
    except OSError:
        return []
    paths = sorted(p for p in paths if os.path.isfile(p))
    return paths[:1]


def extensions():
    if torch is None or not BUILDING:  # metadata or sdist only
        return []
    use_cuda = _want_cuda()
    # ninja's default, cores + 2, only adds memory pressure (each nvcc takes ~1.5 GB).
    os.environ.setdefault("MAX_JOBS", str(len(os.sched_getaffinity(0))))
    sources = sorted(glob.glob("csrc/*.cpp")) + sorted(glob.glob("csrc/cpu/**/*.cpp", recursive=True))
    # Trap 4: never -std=c++17 (torch 2.14's headers need C++20; see below).
    # -g0 cancels the -g of Python's CFLAGS: debug info for torch's headers
    # made every C++ file compile 1.5-3x slower (docs/building.md).
    cxx = ["-O3", "-g0", "-fopenmp"]  # at::parallel_for is OpenMP inlined into our TU
    # The kernels' tile configurations are structs used as template arguments
    # (C++20). torch 2.14 compiles extensions as C++20 itself; older releases
    # (2.11) append -std=c++17 unless a -std is given. Then every file gets
    # -std=c++20, so that the C++ and the CUDA files of one extension see the
    # same definitions of the inline code they share, and the precompiled
    # header, made as C++20, is used.
    std = ["-std=c++20"] if "c++17" in inspect.getsource(ce) else []
    cxx += std
    link = ["-fopenmp"] + _runtime_libstdcxx()
    includes = [os.path.join(ROOT, "csrc")]
    if not use_cuda:
        print(f"cuops: building the CPU-only extension ({len(sources)} C++ files, "
              f"MAX_JOBS={os.environ['MAX_JOBS']})", flush=True)
        return [ce.CppExtension("cuops._C", sources, include_dirs=includes,
                                extra_compile_args={"cxx": cxx}, extra_link_args=link)]
    _set_arch_list()
    sources += sorted(glob.glob("csrc/cuda/**/*.cu", recursive=True))
    sources += sorted(glob.glob("csrc/cuda/**/*.cpp", recursive=True))
    print(f"cuops: building with CUDA ({len(sources)} files, CUDA_HOME={ce.CUDA_HOME}, "
          f"arch list={os.environ.get('TORCH_CUDA_ARCH_LIST', 'local GPU')}, "
          f"MAX_JOBS={os.environ['MAX_JOBS']})", flush=True)
    macros = [("CUOPS_WITH_CUDA", None)]
    if os.environ.get("CUOPS_EXPLORE", "").strip().lower() in _ON:
        macros.append(("CUOPS_EXPLORE", None))  # the development tuning tables
    nvcc = ["-O3", "-lineinfo", "--expt-relaxed-constexpr",
            "-Xptxas=-warn-spills"]
    nvcc += std
    return [ce.CUDAExtension(
        "cuops._C", sources,
        include_dirs=includes + _extra_cuda_includes(),
        define_macros=macros,
        extra_compile_args={"cxx": cxx, "nvcc": nvcc},
        extra_link_args=link,
    )]


# Precompiled header: every C++ file parses ATen's headers first (~12 s each on
# a 2-core machine, most of its compile time); GCC parses them once into a .gch
# that each file loads in ~1 s. Only GCC, and only what every file includes
# anyway: if GCC finds the .gch unusable it reads the header itself, as before.
_PCH_HEADERS = ("ATen/ATen.h", "ATen/Parallel.h", "torch/library.h")
# The Python module's file also parses pybind11 and torch's Python bindings,
# which the .gch does not hold: it compiles without the .gch, on another core
# while GCC precompiles the headers (BuildExt.build_extension).
_WITHOUT_PCH = ("csrc/module.cpp",)


def _precompiled_header(compiler, output_dir, macros, include_dirs, debug, cxx_flags):
    """Plan the .gch for the flags of this build. Return a function that builds
    it when missing (~30 s of one core) and returns the flags that make a C++
    file use it, or [] when that is not possible."""
    import hashlib
    import subprocess

    cxx = compiler.compiler_cxx[0] if getattr(compiler, "compiler_cxx", None) else None
    if os.environ.get("CUOPS_PCH", "1") == "0" or not cxx:
        return lambda: []
    try:
        version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    except OSError:
        return lambda: []
    if "Free Software Foundation" not in version:  # GCC's .gch format
        return lambda: []
    # The same flags as cpp_extension's compile of each file (its
    # unix_wrap_ninja_compile), and the -std it appends when none is given.
    _, _, _, pp_opts, _ = compiler._setup_compile(output_dir, macros, include_dirs, [], None, [])
    flags = compiler.compiler_so[1:] + compiler._get_cc_args(pp_opts, debug, None) + list(cxx_flags)
    if not any(f.startswith("-std=") for f in flags):
        flags.append("-std=c++20")
    # A new directory when torch or the flags change: the changed -include
    # path makes ninja recompile every file against the new header.
    key = hashlib.sha1(repr((cxx, flags, torch.__version__, torch.version.git_version,
                             _PCH_HEADERS)).encode()).hexdigest()[:12]
    base = os.path.join(output_dir, "pch")
    pch_dir = os.path.join(base, key)
    header = os.path.join(pch_dir, "cuops_pch.h")
    use = ["-include", header, "-Winvalid-pch"]

    def build():
        if os.path.exists(header + ".gch"):
            return use
        import shutil

        shutil.rmtree(base, ignore_errors=True)  # earlier torch/flags: ~0.4 GB each
        os.makedirs(pch_dir)
        with open(header, "w") as f:
            f.write("".join(f"#include <{h}>\n" for h in _PCH_HEADERS))
        print("cuops: precompiling torch's headers (once per torch and flags)", flush=True)
        cmd = [cxx] + flags + ["-x", "c++-header", header, "-o", header + ".gch.tmp"]
        if subprocess.run(cmd).returncode != 0:
            print("cuops: precompiling the headers failed; building without", flush=True)
            return []
        os.replace(header + ".gch.tmp", header + ".gch")
        return use

    return build


if torch is not None:
    class BuildExt(ce.BuildExtension.with_options(use_ninja=True)):
        """Objects in build/temp, also for an editable install (whose default
        is a new temporary directory each time): a rebuild then recompiles only
        the files whose sources, headers or flags changed (ninja). C++ files
        use a precompiled header of torch's (_precompiled_header)."""

        def finalize_options(self):
            if self.build_temp is None:
                self.build_temp = os.path.join(ROOT, "build", "temp")
            super().finalize_options()

        def build_extension(self, ext):
            from concurrent.futures import ThreadPoolExecutor

            compile_ = self.compiler.compile  # cpp_extension's ninja compile

            def compile_two_groups(sources, output_dir=None, macros=None, include_dirs=None,
                                   debug=0, extra_preargs=None, extra_postargs=None, depends=None):
                # Two ninja runs side by side, each in its own directory (ninja's
                # logs are per directory): the files that never use the .gch
                # (_WITHOUT_PCH, CUDA's) start at once; the other C++ files
                # start once the .gch is built, the kernels first (the longest
                # compiles, so that none is left alone on one core at the end).
                with_pch = sorted((s for s in sources if s.endswith(".cpp") and
                                   s.replace(os.sep, "/") not in _WITHOUT_PCH),
                                  key=lambda s: not s.replace(os.sep, "/").startswith("csrc/cpu/"))
                rest = [s for s in sources if s not in with_pch]
                make_pch = _precompiled_header(self.compiler, output_dir, macros, include_dirs,
                                               debug, extra_postargs["cxx"])

                def run(group, directory, make_flags):
                    if not group:
                        return []
                    # A new list: cpp_extension appends its -std to the one it gets.
                    post = dict(extra_postargs, cxx=extra_postargs["cxx"] + make_flags())
                    return compile_(group, directory, macros, include_dirs, debug,
                                    extra_preargs, post, depends)

                with ThreadPoolExecutor(2) as pool:
                    rest_objects = pool.submit(run, rest, os.path.join(output_dir, "nopch"), list)
                    pch_objects = pool.submit(run, with_pch, output_dir, make_pch)
                    objects = dict(zip(rest, rest_objects.result()))
                    objects.update(zip(with_pch, pch_objects.result()))
                return [objects[src] for src in sources]  # link in the usual order

            self.compiler.compile = compile_two_groups
            try:
                super().build_extension(ext)
            finally:
                self.compiler.compile = compile_


setup(
    ext_modules=extensions(),
    cmdclass={"build_ext": BuildExt} if torch is not None else {},
)
