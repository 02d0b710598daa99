"""Whole torchvision models, torch vs `cuops.convert`: one training step
(forward, cross-entropy loss, backward, SGD step) and one inference forward,
at batch 64, 224x224, channels_last, in fp32 (TF32 off on both sides) and
under bf16 autocast. `python -m cuops bench models`.

The rate is images per second; `vs base` is torch's time over cuops's. No
pretrained weights (nothing is downloaded): speed does not depend on them.
ZOO is also the set of models the tests train (tests/test_zoo.py).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

import cuops

from . import Case, use_true_fp32

# The model zoo cuops is proven on: plain and bottleneck ResNets, inverted
# residuals with squeeze-excitation and hard-swish (MobileNetV3, EfficientNet),
# grouped convolutions (RegNetY), 7x7 depthwise + Linear (ConvNeXt), a
# transformer (ViT: Linear layers), dense concatenation (DenseNet).
ZOO = ("resnet18", "resnet50", "mobilenet_v3_large", "efficientnet_b0", "regnet_y_400mf",
       "convnext_tiny", "vit_b_16", "densenet121")


def build(name: str, image_size: int = 224, num_classes: int = 1000) -> torch.nn.Module:
    """torchvision's `name`, randomly initialized. A ViT's input size is fixed
    when it is built (its position embedding); the CNNs take any size that
    survives their 32x downsampling."""
    import torchvision

    kw = {"image_size": image_size} if name.startswith("vit_") else {}
    return getattr(torchvision.models, name)(weights=None, num_classes=num_classes, **kw)


class _Model:
    """Builds its model on the first call (the warm-up), so listing the cases
    allocates nothing."""

    def __init__(self, name, device, image_size, convert, train, autocast):
        self.args = name, device, image_size, convert
        self.train, self.autocast = train, autocast
        self.net = self.opt = None

    def _build(self):
        name, device, image_size, convert = self.args
        torch.manual_seed(0)
        net = build(name, image_size).to(device, memory_format=torch.channels_last)
        if convert:
            net = cuops.convert(net)
        self.net = net.train(self.train)
        self.opt = torch.optim.SGD(net.parameters(), lr=1e-3) if self.train else None

    def __call__(self, x, target):
        if self.net is None:
            self._build()
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            if not self.train:
                with torch.inference_mode():
                    return self.net(x)
            loss = F.cross_entropy(self.net(x), target)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss


def cases(device: torch.device, quick: bool, names=ZOO) -> list:
    on_cuda = device.type == "cuda"
    use_true_fp32(device)
    batch, size = (64, 224) if on_cuda else (2, 32)
    if quick:
        names = names[:1]
    out = []
    for name in names:
        for train in (True, False):
            for autocast in (False, True):
                def make():
                    x = torch.randn(batch, 3, size, size, device=device)
                    return (x.contiguous(memory_format=torch.channels_last),
                            torch.randint(0, 1000, (batch,), device=device))

                impls = {impl: _Model(name, device, size, impl == "cuops", train, autocast)
                         for impl in ("torch", "cuops")}
                label = f"{name} {'train' if train else 'infer'} {'bf16' if autocast else 'fp32'}"
                # A step is 10-1000 ms: two warm-up calls cover cudnn.benchmark's search.
                out.append(Case("models", label, "img/s", batch, make, impls,
                                warmup=2 if on_cuda else 1, max_seconds=2.0 if on_cuda else 0.3))
    return out
