"""Command line: python -m cuops {demo,bench,info}."""

import argparse
import sys

from ._optional import MissingDependency, require


def _cmd_bench(args) -> int:
    from . import bench

    if not args.from_csv:
        require("cuops bench", "bench", "tqdm")
        if args.op == "models":
            require("cuops bench models", "bench", "torchvision")
    if args.plot:  # before a long run, not after it
        require("cuops bench --plot", "bench", "matplotlib")
    if args.from_csv:  # re-print / re-plot saved results: no GPU needed
        from .bench import read_csv

        results, header = read_csv(args.from_csv)
        if args.op != "all":
            results = [r for r in results if r.op == args.op]
    else:
        import torch
        from tqdm import tqdm

        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        ops = bench.OPS if args.op == "all" else (args.op,)
        bar = tqdm(total=1, unit="case", desc="bench", dynamic_ncols=True)

        def progress(done, total, text):
            bar.total = total
            bar.n = done
            bar.set_postfix_str(text, refresh=False)
            bar.refresh()

        try:
            results = bench.run(ops, device=device, quick=args.quick, progress=progress,
                                compile=not args.no_compile, only=args.only)
        finally:
            bar.close()
        header = _header(device)
    print(header)
    print(bench.format_table(results))
    if args.csv:
        bench.write_csv(results, args.csv, header)
        print(f"wrote {args.csv}")
    if args.plot:
        from .bench.plot import plot

        plot(results, args.plot, title=header.lstrip("# "))
        print(f"wrote {args.plot}")
    return 0


def _header(device: str) -> str:
    import torch

    name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    import datetime

    date = datetime.date.today().isoformat()
    return f"# device: {name} | torch {torch.__version__} | {date}"


def _default_text(default_when) -> str:
    """"default: float16,bfloat16", with the rule's condition where it has one:
    "default: float32,float64 if depthwise; float16 otherwise"."""
    groups: dict = {}
    for dtype, cond in default_when:
        groups.setdefault(cond, []).append(str(dtype).replace("torch.", ""))
    parts = []
    for cond, dtypes in groups.items():
        text = ",".join(dtypes)
        if cond == "otherwise":
            text += " otherwise"
        elif cond:
            text += f" if {cond}"
        parts.append(text)
    return "default: " + "; ".join(parts) if parts else ""


def _cmd_info(args) -> int:
    import torch

    import cuops

    print(f"cuops {cuops.__version__}, torch {torch.__version__}, CUDA kernels built: "
          f"{cuops.cuda_built()}, CUDA available: {torch.cuda.is_available()}")
    # the public ops first, then any other ladder (the conv backward ones)
    from ._registry import ladder_ops
    from .bench import OPS

    registered = ladder_ops()
    ops = [op for op in dict.fromkeys([*OPS, *registered]) if op in registered]
    rows = []
    for op in ops:
        for dev in ("cpu", "cuda"):
            for v in cuops.variants(op, dev):
                rows.append((op, dev, v["name"], _default_text(v["default_when"])))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths + [0])).rstrip())
    return 0


def _cmd_demo(args) -> int:
    from .demo import main as demo_main

    return demo_main(args)


def main(argv=None) -> int:
    from .bench import SUITES

    p = argparse.ArgumentParser(prog="python -m cuops", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bench", help="time every variant against PyTorch")
    b.add_argument("op", nargs="?", default="all", choices=[*SUITES, "all"])
    b.add_argument("--device", default=None, help="cuda or cpu (default: cuda if present)")
    b.add_argument("--quick", action="store_true", help="fewer sizes")
    b.add_argument("--csv", default=None, help="also write the results to this CSV file")
    b.add_argument("--plot", default=None, metavar="PNG", help="also draw the chart to this file")
    b.add_argument("--from-csv", default=None, metavar="CSV",
                   help="print/plot saved results instead of running (no GPU needed)")
    b.add_argument("--no-compile", action="store_true", help="leave out the torch.compile impls")
    b.add_argument("--only", nargs="+", default=(), metavar="TEXT",
                   help="just the cases whose label contains one of these (e.g. resnet50 'bf16 cl')")
    b.set_defaults(fn=_cmd_bench)
    i = sub.add_parser("info", help="build and variant information")
    i.set_defaults(fn=_cmd_info)
    d = sub.add_parser("demo", help="the main job (see README)")
    d.add_argument("--device", default=None)
    d.add_argument("--epochs", type=int, default=None)
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(fn=_cmd_demo)
    args = p.parse_args(argv)
    try:
        return args.fn(args)
    except MissingDependency as e:
        print(e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
