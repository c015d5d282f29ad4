"""Multiply-accumulates per face, counted from a Keras model's layers (conv, dense, LSTM, attention)."""

from __future__ import annotations

import math


def conv_macs(layer) -> int:
    _, height, width, out_channels = layer.output.shape
    kh, kw = layer.kernel_size
    in_channels = layer.input.shape[-1] // layer.groups
    return height * width * out_channels * kh * kw * in_channels


def dense_macs(layer) -> int:
    positions = math.prod(layer.input.shape[1:-1])  # a Dense on a sequence runs once per step
    return positions * layer.input.shape[-1] * layer.units


def lstm_macs(steps: int, features: int, units: int) -> int:
    """Four gates, each an input and a recurrent matmul, per step; the elementwise work is left out."""
    return steps * 4 * units * (features + units)


def bidirectional_macs(layer) -> int:
    _, steps, features = layer.input.shape
    return sum(lstm_macs(steps, features, lstm.units) for lstm in (layer.forward_layer, layer.backward_layer))


def dot_macs(layer) -> int:
    weights, values = (t.shape for t in layer.input)
    return math.prod(values[1:]) * weights[-1]


COUNTERS = {
    "Conv2D": conv_macs,
    "Dense": dense_macs,
    "Bidirectional": bidirectional_macs,
    "Dot": dot_macs,
}


def count_macs(model) -> int:
    """MACs of one face through the model; layers without matmuls (BN, pooling, activations) count 0."""
    total = 0
    for layer in model.layers:
        if hasattr(layer, "layers") and not hasattr(layer, "forward_layer"):
            total += count_macs(layer)
        elif type(layer).__name__ in COUNTERS:
            total += COUNTERS[type(layer).__name__](layer)
    return total
