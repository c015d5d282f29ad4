"""The paper's three architectures: CNN alone, BiLSTM alone and CNN-BiLSTM, with optional attention.

The feature map of the conv blocks is read as a sequence of rows (one time step per row, the row's
columns and channels as features) by a Bidirectional LSTM whose two directions are concatenated.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal, get_args

from edge.labels import NUM_CLASSES
from edge.preprocess import FACE_SIZE

Arch = Literal["cnn", "bilstm", "cnn-bilstm"]
ARCHS = get_args(Arch)
AUGMENT_LAYER = "augment"


@dataclass
class ModelOptions:
    """Sizes of the network; every field is also a fer-train flag."""

    arch: Arch = "cnn-bilstm"
    """cnn: conv blocks + global pooling; bilstm: a BiLSTM over the image rows; cnn-bilstm: the conv feature map
    read row by row by a BiLSTM (the paper's three)."""
    conv_blocks: int = 3
    """Number of conv blocks, each convs_per_block x (Conv2D, BatchNorm, ReLU), then MaxPool and Dropout."""
    convs_per_block: int = 2
    """Conv2D+BatchNorm+ReLU layers inside each conv block."""
    filters: int = 32
    """Filters of the first block; each further block doubles them."""
    lstm_units: int = 128
    """Units of each LSTM direction."""
    dense_units: list[int] = field(default_factory=lambda: [256])
    """Sizes of the dense layers before the softmax (m layers)."""
    conv_dropout: float = 0.1
    """Dropout after each conv block."""
    dense_dropout: float = 0.3
    """Dropout after the BiLSTM and each dense layer."""
    attention: bool = False
    """Additive attention pooling over the BiLSTM outputs instead of its last states."""
    bn_momentum: float = 0.9
    """BatchNorm momentum (Keras' 0.99 makes short runs look broken)."""
    augment: bool = True
    """Random flip, shift, rotation, zoom, brightness and contrast inside the model (training only);
    --no-augment turns it off."""

    def __post_init__(self) -> None:
        for name, kind in (("conv_blocks", int), ("convs_per_block", int), ("filters", int), ("lstm_units", int),
                           ("conv_dropout", float), ("dense_dropout", float), ("bn_momentum", float),
                           ("attention", bool), ("augment", bool)):
            if not of_kind(getattr(self, name), kind):  # a hand-edited sidecar's "8" would fail deep inside Keras
                raise ValueError(f"{name} must be {KIND_NAMES[kind]}, got {getattr(self, name)!r}")
        if not (isinstance(self.dense_units, list) and all(of_kind(units, int) for units in self.dense_units)):
            raise ValueError(f"dense_units must be a list of whole numbers, got {self.dense_units!r}")
        if self.arch not in ARCHS:
            raise ValueError(f"arch {self.arch!r} is not one of {', '.join(ARCHS)}")
        if self.arch != "bilstm" and not 0 < self.conv_blocks <= 5:
            raise ValueError(f"conv_blocks must be 1..5, got {self.conv_blocks}")
        for name in ("convs_per_block", "filters", "lstm_units"):
            if not getattr(self, name) >= 1:
                raise ValueError(f"{name} must be 1 or more, got {getattr(self, name)}")
        if not all(units >= 1 for units in self.dense_units):
            raise ValueError(f"dense_units must each be 1 or more, got {self.dense_units}")
        for name in ("conv_dropout", "dense_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"{name} must be in 0..1 (1 excluded), got {getattr(self, name)}")
        if not 0 <= self.bn_momentum < 1:
            raise ValueError(f"bn_momentum must be in 0..1 (1 excluded), got {self.bn_momentum}")

    def to_dict(self) -> dict:
        return asdict(self)


KIND_NAMES = {bool: "true or false", int: "a whole number", float: "a number"}


def of_kind(value, kind: type) -> bool:
    """Whether a JSON value is a `kind`: true is no number here, and a whole number is a float too."""
    if kind is bool or isinstance(value, bool):
        return isinstance(value, bool) and kind is bool
    return isinstance(value, int) if kind is int else isinstance(value, (int, float))


def augmentation(keras):
    """The training-time augmentation block; identity at inference."""
    layers = keras.layers
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal"),
            layers.RandomTranslation(0.1, 0.1, fill_mode="nearest"),
            layers.RandomRotation(0.05, fill_mode="nearest"),
            layers.RandomZoom(0.1, fill_mode="nearest"),
            layers.RandomBrightness(0.2, value_range=(0.0, 1.0)),
            layers.RandomContrast(0.2),
        ],
        name=AUGMENT_LAYER,
    )


def _conv_blocks(x, options: ModelOptions, layers):
    for block in range(options.conv_blocks):
        filters = options.filters * 2**block
        for conv in range(options.convs_per_block):
            name = f"block{block + 1}_conv{conv + 1}"
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
            x = layers.BatchNormalization(momentum=options.bn_momentum, name=name + "_bn")(x)
            x = layers.ReLU(name=name + "_relu")(x)
        x = layers.MaxPooling2D(2, name=f"block{block + 1}_pool")(x)
        x = layers.Dropout(options.conv_dropout, name=f"block{block + 1}_dropout")(x)
    return x


def _bilstm(x, options: ModelOptions, layers, unroll: bool):
    rows, cols, channels = x.shape[1], x.shape[2], x.shape[3]
    x = layers.Reshape((rows, cols * channels), name="rows_as_sequence")(x)
    lstm = layers.LSTM(options.lstm_units, return_sequences=options.attention, unroll=unroll, name="lstm")
    x = layers.Bidirectional(lstm, merge_mode="concat", name="bilstm")(x)
    if options.attention:
        scores = layers.Dense(1, activation="tanh", name="attention_score")(x)
        weights = layers.Softmax(axis=1, name="attention_weights")(scores)
        x = layers.Dot(axes=1, name="attention_pool")([weights, x])
        x = layers.Flatten(name="attention_flat")(x)
    return layers.Dropout(options.dense_dropout, name="bilstm_dropout")(x)


def build_model(options: ModelOptions, unroll: bool = False, with_augmentation: bool | None = None):
    """An uncompiled Keras model [N, 48, 48, 1] float in [0, 1] -> [N, 7] softmax.

    unroll=True and with_augmentation=False give the inference twin that converts to int8 TFLite.
    """
    import keras

    layers = keras.layers
    augment = options.augment if with_augmentation is None else with_augmentation
    inputs = keras.Input((FACE_SIZE, FACE_SIZE, 1), name="face")
    x = augmentation(keras)(inputs) if augment else inputs
    if options.arch == "bilstm":
        x = _bilstm(x, options, layers, unroll)
    else:
        x = _conv_blocks(x, options, layers)
        if options.arch == "cnn":
            x = layers.GlobalAveragePooling2D(name="gap")(x)
        else:
            x = _bilstm(x, options, layers, unroll)
    for i, units in enumerate(options.dense_units):
        x = layers.Dense(units, use_bias=False, name=f"dense{i + 1}")(x)
        x = layers.BatchNormalization(momentum=options.bn_momentum, name=f"dense{i + 1}_bn")(x)
        x = layers.ReLU(name=f"dense{i + 1}_relu")(x)
        x = layers.Dropout(options.dense_dropout, name=f"dense{i + 1}_dropout")(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", name="emotion")(x)
    return keras.Model(inputs, outputs, name=options.arch.replace("-", "_"))


def network_difference(built, trained) -> str | None:
    """Where `built` (from options) differs from `trained` in layers or weight shapes, in words; None when alike.

    Only layers with weights count, so an unrolled, augmentation-free twin matches the model it was built from.
    """
    trained_layers = {layer.name: layer for layer in trained.layers}
    for layer in built.layers:
        if not layer.weights:
            continue
        kept = trained_layers.get(layer.name)
        if kept is None:
            return f"the options build a layer {layer.name!r} that the model does not have"
        if len(layer.weights) != len(kept.weights):
            return (f"layer {layer.name!r}: the options build {len(layer.weights)} weight tensors, "
                    f"the model's has {len(kept.weights)}")
        for mine, theirs in zip(layer.weights, kept.weights):
            if tuple(mine.shape) != tuple(theirs.shape):
                return (f"layer {layer.name!r}: the options build weights of shape {tuple(mine.shape)}, "
                        f"the model's are {tuple(theirs.shape)}")
    return None


def inference_twin(model, options: ModelOptions):
    """The same network without augmentation and with unrolled LSTMs, carrying model's trained weights.

    ValueError naming the first layer where `options` build a different network from `model`'s.
    """
    twin = build_model(options, unroll=True, with_augmentation=False)
    difference = network_difference(twin, model)
    if difference:
        raise ValueError(difference)
    for layer in twin.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return twin
