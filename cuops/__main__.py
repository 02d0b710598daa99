"""Command line: python -m cuops {demo,bench,info}."""

import argparse
import sys


def _cmd_bench(args) -> int:
    import torch

    from . import bench

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    ops = bench.OPS if args.op == "all" else (args.op,)
    ops = [op for op in ops if _op_available(op)]

    def progress(done, total, text):
        print(f"[{done}/{total}] {text}", file=sys.stderr, flush=True)

    results = bench.run(ops, device=device, quick=args.quick, progress=progress)
    print(_header(device))
    print(bench.format_table(results))
    if args.csv:
        bench.write_csv(results, args.csv, _header(device))
    return 0


def _op_available(op: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(f"cuops.bench.{op}") is not None


def _header(device: str) -> str:
    import torch

    name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    return f"# device: {name} | torch {torch.__version__}"


def _cmd_info(args) -> int:
    import torch

    import cuops

    print(f"cuops {cuops.__version__}, torch {torch.__version__}, CUDA kernels built: "
          f"{cuops.cuda_built()}, CUDA available: {torch.cuda.is_available()}")
    for op in ("add", "matmul", "conv2d"):
        for dev in ("cpu", "cuda"):
            try:
                vs = cuops.variants(op, dev)
            except ValueError:
                continue
            for v in vs:
                dflt = ",".join(str(d).replace("torch.", "") for d in v["default_for"])
                print(f"  {op:7s} {dev:4s} {v['name']:14s} {('default: ' + dflt) if dflt else ''}")
    return 0


def _cmd_demo(args) -> int:
    from .demo import main as demo_main

    return demo_main(args)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m cuops", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench", help="time every variant against PyTorch")
    b.add_argument("op", nargs="?", default="all", choices=["add", "matmul", "conv2d", "all"])
    b.add_argument("--device", default=None, help="cuda or cpu (default: cuda if present)")
    b.add_argument("--quick", action="store_true", help="fewer sizes")
    b.add_argument("--csv", default=None, help="also write the results to this CSV file")
    b.set_defaults(fn=_cmd_bench)
    i = sub.add_parser("info", help="build and variant information")
    i.set_defaults(fn=_cmd_info)
    d = sub.add_parser("demo", help="the main job (see README)")
    d.add_argument("--device", default=None)
    d.add_argument("--epochs", type=int, default=None)
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(fn=_cmd_demo)
    args = p.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
