import cv2
import pytest
from faces import two_faces_passing, write_clip

from edge.config import DetectorConfig
from edge.detector import Face, open_detector
from edge.tracker import FaceTracker


def tracked(path, every_n: int = 1) -> list[list[tuple[int, int]]]:
    """Per frame of the clip at `path`: (left edge, track id) of each face, left to right."""
    detector, tracker = open_detector(DetectorConfig(kind="yunet")), FaceTracker()
    capture, seen = cv2.VideoCapture(str(path)), []
    while (frame := capture.read()[1]) is not None:
        if len(seen) % every_n:
            faces, ids = tracker.carried()
        else:
            faces = detector.find(frame)
            ids = tracker.update(faces)
        seen.append(sorted((face.box[0], track) for face, track in zip(faces, ids)))
    capture.release()
    return seen


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return {crossing: write_clip(folder / f"{crossing}.avi", two_faces_passing(crossing=crossing)) for crossing in (False, True)}


def test_two_faces_side_by_side_keep_their_tracks(clips):
    seen = tracked(clips[False])
    assert all(len(faces) == 2 for faces in seen)
    assert {tuple(track for _, track in faces) for faces in seen} == {tuple(t for _, t in seen[0])}


def test_faces_that_cross_keep_their_own_tracks(clips):
    seen = tracked(clips[True])
    (_, left), (_, right) = seen[0]
    (_, now_left), (_, now_right) = seen[-1]
    assert (now_left, now_right) == (right, left) and left != right
    assert {track for faces in seen for _, track in faces} == {left, right}


def test_carried_boxes_follow_the_faces_between_detections(clips):
    every, carried = tracked(clips[False]), tracked(clips[False], every_n=3)
    for faces, guesses in zip(every, carried):
        assert [t for _, t in faces] == [t for _, t in guesses]
        assert all(abs(x - guess) < 12 for (x, _), (guess, _) in zip(faces, guesses))


def test_a_lost_track_ends_and_a_new_face_gets_a_new_id():
    tracker = FaceTracker(max_missed=2)
    assert tracker.update([Face((10, 10, 50, 50))]) == [1]
    for _ in range(3):
        tracker.update([])
    assert tracker.tracks == [] and tracker.update([Face((12, 10, 50, 50))]) == [2]
    tracker.reset()
    assert tracker.update([Face((300, 10, 50, 50)), Face((10, 10, 50, 50))]) == [1, 2]
