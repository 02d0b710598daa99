"""cuops.convert(model): in-place replacement of nn.Linear/nn.Conv2d by the
cuops drop-ins, on models the tests build themselves (tiny CPU sizes)."""

import copy

import pytest
import torch
from torch import nn

import cuops
from tests.utils import DEVICES, assert_rel_close, rel_err

# A whole (small) model: several layers' rounding adds up, so a model-level
# bound is looser than one op's REL_TOL.
MODEL_TOL = {torch.float32: 1e-4, torch.float64: 1e-10}


class Net(nn.Module):
    """Nested containers, a custom module, bias and no bias, a shared-free
    mix of the two converted types and layers that stay torch's."""

    def __init__(self):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(3, 8, 3, padding=1),
                                    nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False)])
        self.bn = nn.BatchNorm2d(8)
        self.reflect = nn.Conv2d(8, 6, 3, padding=1, padding_mode="reflect")
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(6 * 4 * 4, 16), nn.ReLU(),
                                  nn.Sequential(nn.Linear(16, 10, bias=False)))
        self.tail = Tail()

    def forward(self, x):
        for c in self.convs:
            x = torch.relu(c(x))
        x = self.reflect(self.bn(x))
        return self.tail(self.head(x))


class Tail(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(10, 5)

    def forward(self, x):
        return self.proj(torch.tanh(x))


CONVERTIBLE = {"convs.0": "Conv2d", "convs.1": "Conv2d", "head.1": "Linear", "head.3.0": "Linear",
               "tail.proj": "Linear"}


def _pair(device, dtype=torch.float32, seed=0):
    torch.manual_seed(seed)
    ref = Net().to(device=device, dtype=dtype)
    return ref, copy.deepcopy(ref)


def _check_types(model):
    modules = dict(model.named_modules())
    for name, kind in CONVERTIBLE.items():
        expected = {"Linear": cuops.nn.Linear, "Conv2d": cuops.nn.Conv2d}[kind]
        assert type(modules[name]) is expected, f"{name}: {type(modules[name])}"
    assert type(modules["bn"]) is nn.BatchNorm2d
    report = model.cuops_report
    if "reflect" in report.replaced:  # padding_mode="reflect": supported ...
        assert type(modules["reflect"]) is cuops.nn.Conv2d
    else:  # ... or left as torch's and reported
        assert type(modules["reflect"]) is nn.Conv2d
        assert "reflect" in report.skipped and "padding_mode" in report.skipped["reflect"]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_same_objects_outputs_and_grads(device, dtype, no_tf32):
    ref, model = _pair(device, dtype)
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    keys = list(model.state_dict().keys())

    out_model = cuops.convert(model)

    assert out_model is model
    _check_types(model)
    assert dict(model.named_parameters()).keys() == params.keys()
    for name, p in model.named_parameters():
        assert p is params[name], f"{name} is a new Parameter"
        assert p.device.type == device and p.dtype == dtype
    for name, b in model.named_buffers():
        assert b is buffers[name], f"{name} is a new buffer"
    assert list(model.state_dict().keys()) == keys

    x = torch.randn(4, 3, 8, 8, device=device, dtype=dtype)
    y_ref, y = ref(x), model(x)
    assert_rel_close(y, y_ref, tol=MODEL_TOL[dtype], what="output")
    g = torch.randn_like(y_ref)
    y_ref.backward(g)
    y.backward(g)
    for (name, p_ref), p in zip(ref.named_parameters(), model.parameters()):
        assert_rel_close(p.grad, p_ref.grad, tol=MODEL_TOL[dtype], what=f"grad of {name}")
    # BatchNorm's running stats moved the same way in both (train mode).
    assert_rel_close(model.bn.running_mean, ref.bn.running_mean, tol=MODEL_TOL[dtype])


def test_optimizer_built_before_conversion_still_trains():
    ref, model = _pair("cpu")
    opt_ref = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)  # before convert
    cuops.convert(model)
    x, t = torch.randn(4, 3, 8, 8), torch.randint(0, 5, (4,))
    for _ in range(3):
        for net, o in ((ref, opt_ref), (model, opt)):
            o.zero_grad()
            nn.functional.cross_entropy(net(x), t).backward()
            o.step()
    for (name, p_ref), p in zip(ref.named_parameters(), model.parameters()):
        assert_rel_close(p, p_ref, tol=1e-4, what=name)


def test_training_flag_hooks_and_extra_attributes_kept():
    _, model = _pair("cpu")
    model.eval()
    model.head.train()  # mixed modes survive
    calls = []
    handle = model.tail.proj.register_forward_hook(lambda m, i, o: calls.append(type(m)))
    model.head[1].register_forward_pre_hook(lambda m, i: calls.append("pre"))
    model.convs[0].note = "mine"
    cuops.convert(model)
    assert not model.training and not model.convs[0].training and not model.tail.proj.training
    assert model.head[1].training and model.head[3][0].training
    assert model.convs[0].note == "mine"
    model(torch.randn(2, 3, 8, 8))
    assert calls == ["pre", cuops.nn.Linear]
    handle.remove()  # a handle taken before the conversion still removes its hook
    model(torch.randn(2, 3, 8, 8))
    assert calls == ["pre", cuops.nn.Linear, "pre"]


def test_state_dict_round_trip_with_torch_model():
    ref, model = _pair("cpu")
    cuops.convert(model)
    torch.manual_seed(1)
    other = Net()
    model.load_state_dict(other.state_dict())  # torch checkpoint -> cuops model
    ref.load_state_dict(model.state_dict())  # and back
    for (n, a), b in zip(other.state_dict().items(), ref.state_dict().values()):
        assert torch.equal(a, b), n


def test_no_reinitialization_and_rng_untouched():
    _, model = _pair("cpu")
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    state = torch.get_rng_state()
    cuops.convert(model)
    assert torch.equal(torch.get_rng_state(), state), "convert drew random numbers"
    for n, p in model.named_parameters():
        assert torch.equal(p, before[n]), n


def test_report(capsys):
    _, model = _pair("cpu")
    cuops.convert(model, verbose=True)
    report = model.cuops_report
    for name, kind in CONVERTIBLE.items():
        assert report.replaced[name] == kind
    assert set(report.replaced) | set(report.skipped) == set(CONVERTIBLE) | {"reflect"}
    counts = report.counts
    assert counts["Linear"] == 3 and counts["Conv2d"] in (2, 3)
    printed = capsys.readouterr().out
    assert "cuops.convert: replaced" in printed and "3 Linear" in printed
    for name in CONVERTIBLE:
        assert name in printed
    assert str(report) in printed


def test_idempotent_shared_and_top_level():
    # Converting twice replaces nothing the second time.
    _, model = _pair("cpu")
    cuops.convert(model)
    first = dict(model.named_modules())
    cuops.convert(model)
    assert model.cuops_report.replaced == {}
    assert all(first[n] is m for n, m in model.named_modules())

    # A module used at two places becomes one shared cuops module.
    lin = nn.Linear(4, 4)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    cuops.convert(seq)
    assert type(seq[0]) is cuops.nn.Linear and seq[0] is seq[2]
    assert seq[0].weight is lin.weight

    # The model itself a layer: the converted module is returned.
    top = nn.Linear(3, 2)
    new = cuops.convert(top)
    assert type(new) is cuops.nn.Linear and new.weight is top.weight and new.bias is top.bias
    assert new.cuops_report.replaced == {"": "Linear"}


def test_subclasses_are_left_alone():
    class MyLinear(nn.Linear):
        def forward(self, x):
            return super().forward(x) * 2

    model = nn.Sequential(MyLinear(3, 3), nn.Linear(3, 3), nn.MultiheadAttention(4, 2))
    cuops.convert(model)
    assert type(model[0]) is MyLinear
    assert type(model[1]) is cuops.nn.Linear
    # MultiheadAttention's out_proj is a Linear subclass that it bypasses.
    assert type(model[2].out_proj) is not cuops.nn.Linear
    assert "0" in model.cuops_report.skipped and "2.out_proj" in model.cuops_report.skipped
    assert "subclass" in model.cuops_report.skipped["0"]


def test_not_a_module():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        cuops.convert(torch.randn(3))


# ------------------------------------------------- torchvision's ResNet-18 (GPU machine)

def _rn18_pair():
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    ref = tv.models.resnet18(num_classes=10).cuda()
    model = cuops.convert(copy.deepcopy(ref))
    assert model.cuops_report.counts == {"Conv2d": 20, "Linear": 1}
    return ref, model


def _fwd_bwd(net, x, autocast):
    net.zero_grad(set_to_none=True)
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        y = net(x)
    y.float().square().mean().backward()
    return y.float(), {n: p.grad for n, p in net.named_parameters()}


@pytest.mark.gpu
@pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "bf16-autocast"])
def test_resnet18_forward_backward(autocast, no_tf32):
    ref, model = _rn18_pair()
    x = torch.randn(8, 3, 64, 64, device="cuda")
    y_ref, g_ref = _fwd_bwd(ref, x, autocast)
    y, g = _fwd_bwd(model, x, autocast)
    if not autocast:
        assert_rel_close(y, y_ref, tol=1e-3, what="output")
        for name in g_ref:
            assert_rel_close(g[name], g_ref[name], tol=2e-3, what=f"grad of {name}")
        return
    # bf16: both sides round every layer to bf16, differently, 18 layers deep, so
    # judge each against the fp32 truth: cuops may be at most ~3x as far from it
    # as torch's own bf16 result (measured on the H100: conv1.weight's gradient
    # was 0.29 from torch's bf16 gradient while both were near the fp32 one).
    y32, g32 = _fwd_bwd(ref, x, False)
    assert rel_err(y, y32) <= max(3 * rel_err(y_ref, y32), 2e-2), "output"
    for name in g32:
        e_ours, e_torch = rel_err(g[name], g32[name]), rel_err(g_ref[name], g32[name])
        assert e_ours <= max(3 * e_torch, 5e-2), f"grad of {name}: {e_ours:.3e} vs torch {e_torch:.3e}"


def _train5(net, x, t):
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(5):
        loss = nn.functional.cross_entropy(net(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def _train5_params(net, x, t):
    """_train5's losses and the trained parameters as one float64 vector."""
    losses = _train5(net, x, t)
    return losses, torch.cat([p.detach().double().flatten() for p in net.parameters()])


def _chaos_envelope(ref, x, t, runs=3):
    """_train5_params of `runs` copies of ref trained in torch fp32 on x
    perturbed by 2^-20 relative (about an fp32 convolution's rounding): how
    far correct fp32 arithmetic scatters on this data. (Also the yardstick of
    scripts/explore/training_chaos.py --envelope, the CPU model of the test.)"""
    out = []
    for k in range(runs):
        g = torch.Generator(device=x.device).manual_seed(1000 + k)
        xp = x * (1 + 2.0**-20 * torch.randn(x.shape, generator=g, device=x.device))
        out.append(_train5_params(copy.deepcopy(ref), xp, t))
    return out


@pytest.mark.gpu
def test_resnet18_training_tracks_torch(no_tf32):
    ref, model = _rn18_pair()
    torch.manual_seed(1)
    x = torch.randn(16, 3, 64, 64, device="cuda")
    t = torch.randint(0, 10, (16,), device="cuda")
    l64, p64 = _train5_params(copy.deepcopy(ref).double(), x.double(), t)  # the yardstick
    losses, params = _train5_params(model, x, t)
    # Five SGD-with-momentum steps of a fresh ResNet on 16 random images are
    # chaotic: ReLU and max-pool near-ties flip under rounding differences of
    # 1e-7, so how far a correct fp32 run ends from the float64 run depends on
    # the data: one torch run is no yardstick (a CPU model with every
    # convolution computed in float64 and rounded to fp32 missed bounds set by
    # one torch run on some seeds, and the GPU run of 2026-12-07 did). So the
    # scatter is measured on this data: three torch fp32 runs with the input
    # perturbed at the rounding level of an fp32 convolution (2^-20 relative),
    # and cuops must stay within 3x the farthest of them (+ 1e-4) of the
    # float64 run, per step's loss and for the parameter vector.
    # scripts/explore/training_chaos.py --envelope 3 (CPU, 2026-12-07): the
    # exact-rounding model passed 12 of 12 seeds (worst 0.35 of the bound),
    # 1 % noise on every convolution output failed all 12 (17-640x the bound).
    envelope = _chaos_envelope(ref, x, t)
    for step, c in enumerate(l64):
        spread = max(abs(le[step] - c) for le, _ in envelope)
        assert abs(losses[step] - c) <= 3 * spread + 1e-4 * max(1.0, abs(c)), (
            step, losses, l64, [le for le, _ in envelope])
    spread = max(rel_err(pe, p64) for _, pe in envelope)
    e_ours = rel_err(params, p64)
    assert e_ours <= 3 * spread + 1e-4, f"parameters: {e_ours:.3e} vs the envelope's {spread:.3e}"


def test_bf16_autocast_cpu():
    ref, model = _pair("cpu")
    cuops.convert(model)
    x = torch.randn(4, 3, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y_ref, y = ref(x), model(x)
    assert y.dtype == y_ref.dtype == torch.bfloat16
    assert_rel_close(y.float(), y_ref.float(), tol=5e-2, what="output under autocast")
