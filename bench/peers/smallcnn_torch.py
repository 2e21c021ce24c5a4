"""SmallCNN exactly as DESIGN.md §6, in PyTorch, with QuantStub/DeQuantStub (identity in float)
so the same class serves float training, eager-mode QAT and int8 conversion. Shared by the
PyTorch peers of the bench suites (bench/peers/pytorch_smallcnn.py, bench/torch_training.py,
bench/torch_wasm.py)."""
import torch.nn as nn
from torch.ao.quantization import DeQuantStub, QuantStub

FUSE_GROUPS = [["conv1", "bn1", "relu1"], ["conv2", "bn2", "relu2"], ["fc1", "relu3"]]


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.quant, self.dequant = QuantStub(), DeQuantStub()
        self.conv1, self.bn1, self.relu1, self.pool1 = nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2)
        self.conv2, self.bn2, self.relu2, self.pool2 = nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2)
        self.flatten, self.fc1, self.relu3, self.fc2 = nn.Flatten(), nn.Linear(1568, 128), nn.ReLU(), nn.Linear(128, 10)

    def forward(self, x):
        x = self.quant(x)
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))
        x = self.relu3(self.fc1(self.flatten(x)))
        return self.dequant(self.fc2(x))
