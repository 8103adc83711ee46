"""A compact CNN as a model-architecture plugin: `medxai train --arch compact_cnn`.

Five 3x3 convolution stages (BatchNorm, ReLU) with 32-64-128-256 channels, global average
pooling and one linear layer: about 0.4 million parameters, so it trains on a CPU in minutes
where a ResNet takes an hour. Its CAM target layer, ``features``, gives a 14x14 map at 224 px
(twice the resolution of a ResNet's layer4). Module ReLUs and the pooled linear head let
Guided Backprop and the closed-form AblationCAM apply as they do to the built-ins.
"""
from collections import OrderedDict

import torch
from torch import nn

from medxai_desktop.core.models.architectures import Architecture

MEDXAI_PLUGIN = {
    "kind": "architecture",
    "name": "compact_cnn",
    "version": "1.0.0",
    "description": "Compact 4-stage CNN (0.4 M parameters), 14x14 CAM at 224 px; quick to train on a CPU",
    "object": "plugin",
}


def _stage(c_in: int, c_out: int, stride: int = 1, pool: bool = False) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out),
              nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class CompactCNN(nn.Module):
    def __init__(self, num_classes: int, width: int = 32):
        super().__init__()
        w = width
        self.features = nn.Sequential(OrderedDict([
            ("stem", _stage(3, w, stride=2)),          # 1/2
            ("stage1", _stage(w, w, pool=True)),       # 1/4
            ("stage2", _stage(w, 2 * w, pool=True)),   # 1/8
            ("stage3", _stage(2 * w, 4 * w, pool=True)),  # 1/16
            ("stage4", _stage(4 * w, 8 * w)),          # 1/16: 14x14 at 224 px
        ]))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8 * w, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


def plugin() -> Architecture:
    return Architecture("compact_cnn", CompactCNN, "features", MEDXAI_PLUGIN["description"])
