"""Learning-rate schedules and the wall-clock budget of a run."""

from __future__ import annotations

import logging
import math
import time

logger = logging.getLogger(__name__)

WARMUP_SHARE = 0.03
FLOOR = 0.01


def cosine_of_budget(share: float, peak: float) -> float:
    """The learning rate at `share` (0..1) of a wall-clock budget: a warm-up from peak/10 over the first 3 %,
    then cosine decay to 1 % of the peak at the end of the budget, and that floor past it."""
    if share < WARMUP_SHARE:
        return peak / 10 + (peak - peak / 10) * share / WARMUP_SHARE
    progress = min(1.0, (share - WARMUP_SHARE) / (1 - WARMUP_SHARE))
    return peak * (FLOOR + (1 - FLOOR) * 0.5 * (1 + math.cos(math.pi * progress)))


def budget_cosine(minutes: float, peak: float, started: float, clock=time.monotonic):
    """A Keras callback that sets the learning rate before every step from the time spent of the budget, so a
    run cut by --max-minutes anneals however fast the machine is, instead of stopping at a high rate."""
    import keras

    class BudgetCosine(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            share = (clock() - started) / (minutes * 60)
            self.model.optimizer.learning_rate.assign(cosine_of_budget(share, peak))

    return BudgetCosine()


def time_budget(minutes: float, started: float, clock=time.monotonic, what: str = "time budget"):
    """A Keras callback that stops training after the epoch that passes a wall-clock budget; its `spent` says
    whether it did."""
    import keras

    def check(epoch, logs=None):
        if (clock() - started) / 60 > minutes:
            logger.warning("%s of %g min spent after epoch %d; stopping", what, minutes, epoch + 1)
            callback.model.stop_training = callback.spent = True

    callback = keras.callbacks.LambdaCallback(on_epoch_end=check)
    callback.spent = False
    return callback
