"""Check the register budgets of warp-specialized kernels without a GPU.

After `setmaxnreg.dec/.inc` a warpgroup may use only the registers it asked
for; code that touches a register above that count is undefined behaviour,
and ptxas does not warn (it reports only the entry allocation). This script
disassembles an object file (or reads a SASS listing), and for every
setmaxnreg of every kernel walks the code reachable from it (branches,
fall-through, called subroutines, up to the next setmaxnreg) and reports the
highest register index used there against the count asked for.

    KEEP_OBJ=/tmp/k.o scripts/nvcc_check.sh csrc/cuda/conv2d/wgrad_wgmma.cu
    python scripts/setmaxnreg_check.py /tmp/k.o [name-substring]

Exit status 1 when a role goes over its count. cuobjdump comes from the CUDA
toolkit or from triton's bundled copy.
"""

import glob
import os
import re
import shutil
import subprocess
import sys


def cuobjdump() -> str:
    cuda_home = os.environ.get("CUDA_HOME", "/usr/local/cuda")
    found = shutil.which("cuobjdump") or os.path.join(cuda_home, "bin", "cuobjdump")
    if os.path.exists(found):
        return found
    import triton  # a copy ships with triton's NVIDIA backend
    bundled = glob.glob(os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin",
                                     "cuobjdump"))
    if not bundled:
        sys.exit("setmaxnreg_check: no cuobjdump (CUDA toolkit or triton) found")
    return bundled[0]


def functions(sass: str):
    """(name, {address: instruction text}, [addresses in order]) per kernel."""
    name, ins, order = None, {}, []
    for line in sass.splitlines() + ["Function : <end>"]:
        if "Function :" in line:
            if name is not None:
                yield name, ins, order
            name, ins, order = line.split("Function :")[1].strip(), {}, []
            continue
        m = re.match(r"\s*/\*([0-9a-f]{4,6})\*/\s+(.*?)\s*;", line)
        if m:
            a = int(m.group(1), 16)
            ins[a] = m.group(2)
            order.append(a)


def successors(a, ins, after):
    text = ins[a]
    out = []
    target = re.search(r"(?:BRA|CALL\.REL\.NOINC|BRX)\b.*?(0x[0-9a-f]+)", text)
    if target:
        out.append(int(target.group(1), 16))
    ends = re.match(r"(BRA|EXIT|RET|BPT\.TRAP)\b", text) is not None  # unpredicated
    if text.startswith("CALL") or not ends:
        out.append(after.get(a))
    return [x for x in out if x in ins]


def check(name, ins, order) -> bool:
    after = dict(zip(order, order[1:]))
    ok = True
    for a in order:
        if "SETMAXREG" not in ins[a]:
            continue
        limit = int(ins[a].split("0x")[-1], 16)
        seen, stack = set(), [a]
        while stack:
            x = stack.pop()
            if x in seen:
                continue
            seen.add(x)
            if x != a and "SETMAXREG" in ins[x]:
                continue  # the next role's budget
            stack += successors(x, ins, after)
        top = max([int(r) for x in seen for r in re.findall(r"\bR(\d+)\b", ins[x])] + [-1])
        good = top < limit
        ok &= good
        print(f"{'ok  ' if good else 'OVER'} setmaxnreg {limit:3d} at 0x{a:x}: max R{top} "
              f"({len(seen)} instructions)  {name[:90]}")
    return ok


def main(argv) -> int:
    path, key = argv[1], argv[2] if len(argv) > 2 else ""
    if path.endswith(".o") or path.endswith(".cubin"):
        sass = subprocess.run([cuobjdump(), "-sass", path], check=True, capture_output=True,
                              text=True).stdout
    else:
        sass = open(path).read()
    ok = True
    for name, ins, order in functions(sass):
        if key in name and any("SETMAXREG" in t for t in ins.values()):
            ok &= check(name, ins, order)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
