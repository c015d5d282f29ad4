"""Between whole-frame searches the Haar detector looks for tracked faces only near where they are expected."""

import threading

import pytest
from faces import demo_face, frame_with, write_clip

from edge.agent import assemble
from edge.config import DetectorConfig, EdgeConfig
from edge.detector import iou, open_detector
from test_agent import settings


@pytest.fixture(scope="module")
def side_by_side():
    """Two faces (one demo face and its mirror image, which the cascade finds in every frame) moving right."""
    face = demo_face(0)
    return [frame_with([(face, 40 + 4 * step, 120, 120), (face[:, ::-1].copy(), 360 + 4 * step, 140, 120)])
            for step in range(24)]


def test_near_looks_find_the_faces_the_whole_frame_search_finds(side_by_side):
    detector = open_detector(DetectorConfig(kind="haar"))
    previous = detector.find(side_by_side[0])
    assert len(previous) == 2
    for frame in side_by_side[1:]:
        whole = detector.find(frame)
        near = detector.find_near(frame, [face.box for face in previous])
        assert near is not None and len(near) == len(whole) == 2
        assert all(max(iou(face.box, other.box) for other in whole) > 0.7 for face in near)
        previous = near


def test_a_face_that_is_gone_asks_for_a_whole_frame_search(side_by_side):
    detector = open_detector(DetectorConfig(kind="haar"))
    boxes = [face.box for face in detector.find(side_by_side[0])]
    assert detector.find_near(frame_with([]), boxes) is None
    assert detector.find_near(side_by_side[0], [(10, 10, 80, 80)]) is None  # nothing where it was expected


def test_yunet_always_searches_the_whole_frame(side_by_side):
    detector = open_detector(DetectorConfig(kind="yunet"))
    assert detector.find_near(side_by_side[0], [face.box for face in detector.find(side_by_side[0])]) is None


class CountingDetector:
    def __init__(self, detector):
        self.detector, self.whole, self.near = detector, 0, 0

    def find(self, image):
        self.whole += 1
        return self.detector.find(image)

    def find_near(self, image, expected):
        self.near += 1
        return self.detector.find_near(image, expected)


@pytest.mark.parametrize("every", [1, 4])
def test_the_agent_searches_the_whole_frame_every_nth_detection_and_keeps_both_tracks(
    broker, tmp_path, tflite_model, side_by_side, every
):
    clip = write_clip(tmp_path / "two.avi", side_by_side)
    config = settings(tmp_path, tflite_model, broker.port, camera={"source": str(clip)}, trigger={"kind": "always"},
                      detector={"kind": "haar", "full_search_every": every}, homeassistant={"enabled": False})
    agent = assemble(EdgeConfig.model_validate(config))
    agent.detector = counting = CountingDetector(agent.detector)
    agent.run(threading.Event(), pace=False)
    assert agent.counters.faces == 2 * len(side_by_side)
    assert counting.whole == -(-len(side_by_side) // every)
    assert {track.id for track in agent.tracker.tracks} == {1, 2}
