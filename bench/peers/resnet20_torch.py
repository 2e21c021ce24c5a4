"""ResNet-20 (He et al. 2016, §4.2) in PyTorch, the twin of src/nn/models/resnet.ts: 3 stages ×
3 BasicBlocks at widths 16/32/64, stride 2 between stages, 1×1 conv + BN downsample shortcut,
global average pooling, linear classifier. The residual sum is a FloatFunctional so eager-mode
QAT observes it (as our nn.Add does); QuantStub/DeQuantStub are identities in float.
Used by bench/peers/torch_peer.py (the `resnet20` bench suite)."""
import torch.nn as nn
from torch.ao.nn.quantized import FloatFunctional
from torch.ao.quantization import DeQuantStub, QuantStub


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1, self.relu1 = nn.BatchNorm2d(planes), nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))
        self.add, self.relu2 = FloatFunctional(), nn.ReLU()

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(self.add.add(y, self.downsample(x) if self.downsample is not None else x))


class ResNet20(nn.Module):
    def __init__(self, in_channels=3, classes=10, width=16):
        super().__init__()
        w = width
        self.quant, self.dequant = QuantStub(), DeQuantStub()
        self.conv1 = nn.Conv2d(in_channels, w, 3, padding=1, bias=False)
        self.bn1, self.relu = nn.BatchNorm2d(w), nn.ReLU()

        def stage(in_planes, planes, stride):
            return nn.Sequential(*[BasicBlock(in_planes if i == 0 else planes, planes, stride if i == 0 else 1) for i in range(3)])
        self.layer1, self.layer2, self.layer3 = stage(w, w, 1), stage(w, 2 * w, 2), stage(2 * w, 4 * w, 2)
        self.avgpool, self.flatten, self.fc = nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * w, classes)

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(self.quant(x))))
        y = self.layer3(self.layer2(self.layer1(y)))
        return self.dequant(self.fc(self.flatten(self.avgpool(y))))


def fuse_groups(model):
    """Conv-BN(-ReLU) groups for torch.ao.quantization.fuse_modules_qat."""
    groups = [["conv1", "bn1", "relu"]]
    for s in ("layer1", "layer2", "layer3"):
        for i, block in enumerate(getattr(model, s)):
            p = f"{s}.{i}"
            groups += [[f"{p}.conv1", f"{p}.bn1", f"{p}.relu1"], [f"{p}.conv2", f"{p}.bn2"]]
            if block.downsample is not None:
                groups.append([f"{p}.downsample.0", f"{p}.downsample.1"])
    return groups
