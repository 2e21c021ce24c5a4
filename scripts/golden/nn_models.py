"""PyTorch twins of the qat-ts model zoo (src/nn/models/*.ts): same module names, order and
shapes, so state_dict keys match exactly. Imported by nn_layers.py and safetensors_torch.py.
"""
import torch.nn as nn


class Add(nn.Module):
    """Twin of nn.Add (the residual join as a module)."""

    def forward(self, a, b):
        return a + b


def mlp(in_features=784, hidden=(256, 128), classes=10):
    layers = [nn.Flatten()]
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, classes))
    return nn.Sequential(*layers)


class SmallCNN(nn.Module):
    def __init__(self, in_channels=1, classes=10, image_size=28):
        super().__init__()
        side = image_size // 4
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32 * side * side, 128)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))
        x = self.relu3(self.fc1(self.flatten(x)))
        return self.fc2(x)


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))
        self.add = Add()
        self.relu2 = nn.ReLU()

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        shortcut = self.downsample(x) if self.downsample is not None else x
        return self.relu2(self.add(y, shortcut))


class ResNet(nn.Module):
    def __init__(self, classes=10, in_channels=1, width=16, blocks_per_stage=3):
        super().__init__()
        w = width

        def stage(in_planes, planes, stride):
            return nn.Sequential(*[BasicBlock(in_planes if i == 0 else planes, planes, stride if i == 0 else 1) for i in range(blocks_per_stage)])

        self.conv1 = nn.Conv2d(in_channels, w, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU()
        self.layer1 = stage(w, w, 1)
        self.layer2 = stage(w, 2 * w, 2)
        self.layer3 = stage(2 * w, 4 * w, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(4 * w, classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.flatten(self.avgpool(x)))


def make_divisible(v, divisor=8):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def conv_bn_relu6(inp, out, k, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(inp, out, k, stride, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(out), nn.ReLU6())


class InvertedResidual(nn.Module):
    def __init__(self, inp, out, stride, expand_ratio):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == out
        layers = []
        if expand_ratio != 1:
            layers.append(conv_bn_relu6(inp, hidden, 1))
        layers += [conv_bn_relu6(hidden, hidden, 3, stride, hidden), nn.Conv2d(hidden, out, 1, bias=False), nn.BatchNorm2d(out)]
        self.conv = nn.Sequential(*layers)
        if self.use_res_connect:
            self.add = Add()

    def forward(self, x):
        return self.add(x, self.conv(x)) if self.use_res_connect else self.conv(x)


SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2), (6, 64, 2, 1)]


class MobileNetV2(nn.Module):
    def __init__(self, classes=10, in_channels=1, width_mult=1.0, dropout=0.2):
        super().__init__()
        inp = make_divisible(16 * width_mult)
        last = make_divisible(256 * max(1.0, width_mult))
        layers = [conv_bn_relu6(in_channels, inp, 3, 1)]
        for t, c, n, s in SETTINGS:
            out = make_divisible(c * width_mult)
            for i in range(n):
                layers.append(InvertedResidual(inp, out, s if i == 0 else 1, t))
                inp = out
        layers.append(conv_bn_relu6(inp, last, 1))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, classes))

    def forward(self, x):
        return self.classifier(self.flatten(self.pool(self.features(x))))


MODEL_BUILDERS = {
    "mlp": mlp,
    "small_cnn": SmallCNN,
    "resnet20": ResNet,
    "mobilenet_v2_small": MobileNetV2,
    "mobilenet_v2_small_x0.5": lambda: MobileNetV2(width_mult=0.5),
}
