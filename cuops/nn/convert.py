"""cuops.convert(model): swap torch.nn.Linear / torch.nn.Conv2d for the cuops
drop-ins, in place, keeping the very same parameters.

    model = cuops.convert(model, verbose=True)
    print(model.cuops_report)           # what was replaced, what was skipped

How a module is replaced (and why this way). The new module is constructed
with the old one's configuration on the *meta* device: its __init__ runs (so
anything the cuops subclass sets up there exists) but allocates no memory and
draws no random numbers. Then the old module's whole state (its __dict__:
the _parameters/_buffers/_modules dicts, every hook dict, `training`, and any
attribute a user attached) is laid over the new one, so the new module holds
the *same* Parameter objects (an optimizer built before the conversion keeps
working, DDP/FSDP registrations on the tensors stay valid), the same buffers,
devices, dtypes, training flag and hooks (the hook dicts themselves are
shared, so existing RemovableHandles still remove them). Nothing is
re-initialized, copied or moved. The alternative, `cls.__new__(cls)` plus a
__dict__ copy, would skip the subclass's __init__ and leave out whatever
attribute it adds; assigning `__class__` would do the same. The old module
object is left sharing that state: do not keep using it.

Only modules whose type is exactly torch.nn.Linear or torch.nn.Conv2d are
replaced: a subclass (a cuops module already, a parametrized module,
torch's NonDynamicallyQuantizableLinear inside MultiheadAttention, a lazy
module...) may depend on its own forward, so it is left alone and reported
as skipped. A configuration the cuops module refuses (its constructor raises
ValueError, e.g. an unsupported padding_mode) or a dtype the kernels do not
support is skipped and reported too; conversion never fails half-way for
those.
"""

from __future__ import annotations

import collections
import dataclasses

import torch

from .._registry import FLOAT_DTYPES


@dataclasses.dataclass
class ConvertReport:
    """What cuops.convert did. `replaced` and `skipped` map module names
    (as in model.named_modules(); "" is the model itself) to the type name
    and to the reason, respectively."""

    replaced: dict = dataclasses.field(default_factory=dict)  # name -> "Linear" / "Conv2d"
    skipped: dict = dataclasses.field(default_factory=dict)  # name -> reason

    @property
    def counts(self) -> dict:
        """{"Linear": n, "Conv2d": m} of the replaced modules."""
        return dict(collections.Counter(self.replaced.values()))

    def __str__(self) -> str:
        counts = ", ".join(f"{n} {t}" for t, n in sorted(self.counts.items())) or "nothing"
        lines = [f"cuops.convert: replaced {counts}; skipped {len(self.skipped)}"]
        for name, kind in self.replaced.items():
            lines.append(f"  replaced {kind:7s} {name or '(the model itself)'}")
        for name, reason in self.skipped.items():
            lines.append(f"  skipped          {name or '(the model itself)'}: {reason}")
        return "\n".join(lines)


def _targets():
    from .conv import Conv2d
    from .linear import Linear

    return {torch.nn.Linear: Linear, torch.nn.Conv2d: Conv2d}


def _make_meta(new_cls, m: torch.nn.Module) -> torch.nn.Module:
    """An instance of `new_cls` configured like `m`, with meta-device parameters."""
    kw = dict(device="meta", dtype=m.weight.dtype)
    if isinstance(m, torch.nn.Linear):
        return new_cls(m.in_features, m.out_features, bias=m.bias is not None, **kw)
    return new_cls(m.in_channels, m.out_channels, m.kernel_size, stride=m.stride,
                   padding=m.padding, dilation=m.dilation, groups=m.groups,
                   bias=m.bias is not None, padding_mode=m.padding_mode, **kw)


def _subclass_reason(m: torch.nn.Module) -> str:
    if type(m) is torch.nn.modules.linear.NonDynamicallyQuantizableLinear:
        # The out_proj of nn.MultiheadAttention, which reads its weight in
        # F.multi_head_attention_forward and never calls its forward.
        return ("the out_proj of an nn.MultiheadAttention, which uses its weight directly "
                "(cuops has no attention op): left as is")
    return (f"{type(m).__module__}.{type(m).__qualname__} is a subclass of a torch layer, not "
            "the layer itself: left as is")


def _convert_one(m: torch.nn.Module, new_cls):
    """The cuops module for `m` (sharing all of m's state), or a skip reason."""
    w = getattr(m, "weight", None)
    if not isinstance(w, torch.Tensor) or w.dtype not in FLOAT_DTYPES:
        dtype = getattr(w, "dtype", None)
        names = ", ".join(str(t).removeprefix("torch.") for t in FLOAT_DTYPES)
        return None, f"dtype {dtype} (cuops supports {names})"
    try:
        new = _make_meta(new_cls, m)
    except ValueError as e:  # a configuration the cuops module does not support
        return None, f"{type(m).__name__} configuration not supported by cuops ({e})"
    # m's state wins; attributes that only the cuops __init__ sets are kept.
    new.__dict__.update(m.__dict__)
    return new, ""


def convert(model: torch.nn.Module, *, verbose: bool = False) -> torch.nn.Module:
    """Replace every torch.nn.Linear and torch.nn.Conv2d in `model` by
    cuops.nn.Linear / cuops.nn.Conv2d, in place, and return the model.

    Parameters, buffers, devices, dtypes, the training flag and hooks are the
    same objects as before (nothing is re-initialized or copied), so
    optimizers, state_dict keys and checkpoints keep working. A module shared
    at several places becomes one shared cuops module. The report (a
    ConvertReport: replaced and skipped module names) is attached to the
    returned model as `model.cuops_report` and printed when `verbose`.

    If `model` itself is a Linear/Conv2d, the converted module is returned
    (an object cannot change its own type): use `m = cuops.convert(m)`.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError("cuops.convert: expected a torch.nn.Module, but got "
                        f"{type(model).__name__}")
    targets = _targets()
    report = ConvertReport()
    # id(old) -> (old, new or None): shared modules are converted once (old is
    # kept referenced so that its id cannot be reused during the walk).
    done = {}

    def visit(m, name):
        if id(m) in done:
            return done[id(m)][1]
        new_cls = targets.get(type(m))
        new = None
        if new_cls is not None:
            new, reason = _convert_one(m, new_cls)
            if new is None:
                report.skipped[name] = reason
            else:
                report.replaced[name] = type(m).__name__
        elif isinstance(m, tuple(targets)) and not isinstance(m, tuple(targets.values())):
            report.skipped[name] = _subclass_reason(m)
        done[id(m)] = (m, new)
        if new is None:  # recurse into whatever stays (a converted layer has no children)
            for child_name, child in list(m._modules.items()):
                if child is None:
                    continue
                replacement = visit(child, f"{name}.{child_name}" if name else child_name)
                if replacement is not None:
                    m._modules[child_name] = replacement
        return new

    top = visit(model, "")
    result = model if top is None else top
    result.cuops_report = report
    if verbose:
        print(report)
    return result
