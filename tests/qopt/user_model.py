"""A user's own model class for the ``model = "package.module:Class"`` tests."""

import math

from torch import nn


class TinyNet(nn.Module):
    """Constructor contract: ``TinyNet(input_shape, num_classes, **model_args)``."""

    def __init__(self, input_shape, num_classes, width=16):
        super().__init__()
        self.input_shape, self.width = tuple(input_shape), width
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), width),
                                 nn.BatchNorm1d(width), nn.ReLU(), nn.Linear(width, num_classes))

    def forward(self, x):
        return self.net(x)


def not_a_module(input_shape, num_classes):
    return 42


class SpikyNet(nn.Module):
    """A linear classifier whose training forward pass returns NaN on every ``every``-th call
    (and only then): a run with ``nonfinite = "skip"`` skips exactly those steps."""

    def __init__(self, input_shape, num_classes, every=12):
        super().__init__()
        self.every, self.calls = every, 0
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes))

    def forward(self, x):
        y = self.net(x)
        if self.training:
            self.calls += 1
            if self.calls % self.every == 0:
                return y * float("nan")
        return y


class SlowNet(nn.Module):
    """A linear classifier whose training forward pass sleeps ``sleep`` seconds (a run that
    takes long enough to be killed while it trains)."""

    def __init__(self, input_shape, num_classes, sleep=0.0):
        super().__init__()
        self.sleep = sleep
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes))

    def forward(self, x):
        if self.training and self.sleep:
            import time

            time.sleep(self.sleep)
        return self.net(x)
