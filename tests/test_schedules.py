import pytest

from training.cli import main
from training.schedules import cosine_of_budget
from tests.test_train import TINY_FLAGS


def test_budget_cosine_warms_up_peaks_and_ends_at_its_floor():
    peak = 0.01
    assert cosine_of_budget(0.0, peak) == pytest.approx(peak / 10)
    assert cosine_of_budget(0.03, peak) == pytest.approx(peak)
    rates = [cosine_of_budget(share / 100, peak) for share in range(3, 101)]
    assert all(later <= earlier for earlier, later in zip(rates, rates[1:]))
    assert cosine_of_budget(1.0, peak) == pytest.approx(peak / 100)
    assert cosine_of_budget(1.7, peak) == pytest.approx(peak / 100)


def test_a_budgeted_cosine_run_ends_annealed(tmp_path, tiny_fer_csv):
    import keras

    run = tmp_path / "run"
    flags = ["--data", str(tiny_fer_csv), "--run-dir", str(run), "--epochs", "3", "--learning-rate", "0.02", *TINY_FLAGS]
    assert main([*flags, "--max-minutes", "0.0001"]) == 0  # the budget is spent before the first step
    last = keras.models.load_model(run / "last.keras")
    assert float(last.optimizer.learning_rate) == pytest.approx(0.0002)
