import warnings

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from edge.config import PirConfig, TriggerConfig
from edge.errors import ConfigError
from edge.publisher import wait_until
from edge.trigger import AlwaysTrigger, PirTrigger, open_trigger


@pytest.fixture
def mock_pins():
    previous = Device.pin_factory
    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = previous


def test_pir_reports_the_pin(mock_pins):
    trigger = open_trigger(TriggerConfig(kind="pir", pir=PirConfig(pin="GPIO17")))
    assert isinstance(trigger, PirTrigger) and not trigger.motion(None)
    mock_pins.pin(17).drive_high()
    assert wait_until(lambda: trigger.motion(None), 2)  # MotionSensor samples its pin at 10 Hz
    mock_pins.pin(17).drive_low()
    assert wait_until(lambda: not trigger.motion(None), 2)
    trigger.close()


def test_bad_pin_names_the_field(mock_pins):
    with pytest.raises(ConfigError, match="trigger.pir.pin"):
        PirTrigger(PirConfig(pin="GPIO99"))


@pytest.fixture
def no_pin_factory(monkeypatch):
    """gpiozero left to find a real pin library itself, as on a machine with no GPIO."""
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    previous = Device.pin_factory
    Device.pin_factory = None
    yield
    Device.pin_factory = previous


def test_no_gpio_is_one_error_with_the_fallbacks_folded_in(no_pin_factory):
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        try:
            PirTrigger(PirConfig(pin="GPIO17")).close()
        except ConfigError as exc:
            message = str(exc)
        else:
            pytest.skip("this machine has GPIO")
    assert not shown
    assert message.startswith("field 'trigger.pir.pin': cannot use 'GPIO17' (no GPIO pin library works")
    assert "lgpio: " in message and "native: " in message


def test_always_needs_no_frames():
    trigger = open_trigger(TriggerConfig(kind="always"))
    assert isinstance(trigger, AlwaysTrigger) and trigger.motion(None) and not trigger.needs_frames
