from edge.events import EventTracker


def test_event_opens_on_motion_and_closes_after_quiet_time():
    tracker = EventTracker("pir", quiet_seconds=2.0, max_seconds=60.0)
    assert tracker.update(True, 10.0) is None and tracker.current is not None
    assert tracker.update(False, 11.5) is None
    closed = tracker.update(False, 12.0)
    assert closed is not None and (closed.started, closed.ended) == (10.0, 12.0)
    assert tracker.current is None


def test_long_event_is_split_at_max_length():
    tracker = EventTracker("always", quiet_seconds=5.0, max_seconds=3.0)
    first = tracker.update(True, 0.0) or tracker.current
    closed = tracker.update(True, 3.0)
    assert closed is first and tracker.current is not first


def test_event_averages_its_faces():
    tracker = EventTracker("motion", 1.0, 60.0)
    tracker.update(True, 0.0)
    tracker.current.add_face([1.0, 0.0])
    tracker.current.add_face([0.0, 1.0])
    assert list(tracker.close(1.0).mean_probabilities()) == [0.5, 0.5]


def test_event_message_reports_each_track_with_its_frames_and_dominant_emotion():
    from edge.messages import event_message

    tracker = EventTracker("motion", 1.0, 60.0)
    tracker.update(True, 0.0)
    for happy in (0.9, 0.8, 0.7):
        tracker.current.add_face([happy, 1 - happy], track=1)
    tracker.current.add_face([0.2, 0.8], track=2)
    message = event_message("cam", "m", tracker.close(1.0), ["happy", "neutral"])
    assert message["faces"] == 4 and message["dominant"] == "happy"
    assert [(t["track"], t["frames"], t["dominant"]) for t in message["tracks"]] == [(1, 3, "happy"), (2, 1, "neutral")]
    assert message["tracks"][0]["probabilities"] == {"happy": 0.8, "neutral": 0.2}


def test_a_wall_clock_step_changes_neither_when_an_event_closes_nor_its_duration():
    wall = [1_000.0]
    tracker = EventTracker("motion", quiet_seconds=2.0, max_seconds=60.0, wall=lambda: wall[0])
    tracker.update(True, 50.0)
    wall[0] += 86_400  # NTP sets the clock of a Pi without a battery a day on
    assert tracker.update(False, 51.0) is None  # still within the quiet time: the event stays open
    closed = tracker.update(False, 52.5)
    assert closed.duration == 2.5 and (closed.started_at, closed.ended_at) == (1_000.0, 87_400.0)
