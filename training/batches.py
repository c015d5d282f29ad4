"""The training faces as Keras batches: shuffled each epoch, optionally re-framed, with per-face loss weights."""

from __future__ import annotations

import numpy as np

from edge.preprocess import to_model_input
from training.crop_augment import CropAugment, augment_faces


def _py_dataset():
    import keras

    return keras.utils.PyDataset


class TrainingBatches(_py_dataset()):
    """Batches of (model input, target[, sample weight]) over uint8 faces [N, 48, 48] and targets [N, 7]."""

    def __init__(self, faces: np.ndarray, targets: np.ndarray, batch_size: int, seed: int,
                 class_weights: dict[int, float] | None = None, crop_augment: CropAugment | None = None):
        super().__init__(workers=1, use_multiprocessing=False)
        self.faces, self.targets, self.batch_size = faces, targets, batch_size
        self.crop_augment = crop_augment
        self.weights = None
        if class_weights:
            lookup = np.array([class_weights[c] for c in range(targets.shape[1])], np.float32)
            self.weights = lookup[targets.argmax(1)]
        self._rng = np.random.default_rng(seed)
        self._order = self._rng.permutation(len(faces))

    def __len__(self) -> int:
        return int(np.ceil(len(self.faces) / self.batch_size))

    def __getitem__(self, index: int):
        chosen = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        faces = self.faces[chosen]
        if self.crop_augment is not None:
            faces = augment_faces(faces, self._rng, self.crop_augment)
        batch = (to_model_input(faces), self.targets[chosen])
        return batch if self.weights is None else (*batch, self.weights[chosen])

    def on_epoch_end(self) -> None:
        self._order = self._rng.permutation(len(self.faces))
