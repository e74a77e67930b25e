"""The CIFAR-10 ResNets of He et al. 2015 ("Deep Residual Learning for Image Recognition", section 4.2).

6n+2 layers: a 3x3 conv (in_channels -> 16) with BN and ReLU, three stages of n BasicBlocks with
16, 32 and 64 channels (the first block of stages 2 and 3 has stride 2), global average pooling and a
64 -> num_classes fully connected layer. Shortcuts that change shape use option A: subsample by
striding, then zero-pad the channels equally on both sides; they have no parameters.

State-dict keys: conv1, bn1, layer1.0.conv1, layer1.0.bn1, layer1.0.conv2, layer1.0.bn2, ..., fc.
"""

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride = stride
        self.in_planes = in_planes
        self.planes = planes

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1 and self.in_planes == self.planes:
            return x
        x = x[:, :, :: self.stride, :: self.stride]
        pad = (self.planes - self.in_planes) // 2
        return F.pad(x, (0, 0, 0, 0, pad, pad))  # zero channels before and after

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, n: int, in_channels: int = 3, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.in_planes = 16
        self.layer1 = self._make_layer(16, n, 1)
        self.layer2 = self._make_layer(32, n, 2)
        self.layer3 = self._make_layer(64, n, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (blocks - 1):
            layers.append(BasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def resnet20(in_channels: int = 3, num_classes: int = 10) -> CifarResNet:
    return CifarResNet(3, in_channels, num_classes)


def resnet32(in_channels: int = 3, num_classes: int = 10) -> CifarResNet:
    return CifarResNet(5, in_channels, num_classes)


def resnet44(in_channels: int = 3, num_classes: int = 10) -> CifarResNet:
    return CifarResNet(7, in_channels, num_classes)


def resnet56(in_channels: int = 3, num_classes: int = 10) -> CifarResNet:
    return CifarResNet(9, in_channels, num_classes)


def resnet110(in_channels: int = 3, num_classes: int = 10) -> CifarResNet:
    return CifarResNet(18, in_channels, num_classes)


BUILDERS = {"resnet20": resnet20, "resnet32": resnet32, "resnet44": resnet44, "resnet56": resnet56, "resnet110": resnet110}


if __name__ == "__main__":
    for name, build in BUILDERS.items():
        m = build()
        convs = sum(1 for x in m.modules() if isinstance(x, (nn.Conv2d, nn.Linear)))
        params = sum(p.numel() for p in m.parameters())
        print(f"{name}: {convs} weighted layers, {params} parameters, out {tuple(m(torch.zeros(2, 3, 32, 32)).shape)}")
