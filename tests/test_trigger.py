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


def test_always_needs_no_frames():
    trigger = open_trigger(TriggerConfig(kind="always"))
    assert isinstance(trigger, AlwaysTrigger) and trigger.motion(None) and not trigger.needs_frames
