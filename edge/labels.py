"""The seven FER2013 emotions, in the dataset's label order (emotion column 0..6)."""

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(EMOTIONS)


def label_index(name: str) -> int:
    """Index of an emotion name (case-insensitive); ValueError naming the valid ones otherwise."""
    try:
        return EMOTIONS.index(name.strip().lower())
    except ValueError:
        raise ValueError(f"unknown emotion {name!r}; expected one of {', '.join(EMOTIONS)}") from None
