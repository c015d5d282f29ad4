"""The daemon's loop: trigger -> frames -> faces -> emotions -> outbox -> MQTT, around a stop Event."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from typing import Any

import cv2
import numpy as np

from edge.camera import open_source
from edge.config import EdgeConfig
from edge.detector import Face, in_frame, open_detector
from edge.errors import FerEdgeError
from edge.events import EventRecord, EventTracker
from edge.framing import Framing, frame_face
from edge.homeassistant import discovery_messages
from edge.messages import Topics, emotion_message, event_message, status_message
from edge.modelstore import RunningModel, open_running_model
from edge.outbox import Outbox
from edge.preprocess import to_gray
from edge.publisher import MqttPublisher
from edge.stats import Counters, StageTimes
from edge.tracker import FaceTracker
from edge.trigger import open_trigger
from edge.watchdog import Watchdog

logger = logging.getLogger(__name__)

STALE_AFTER_REPORTS = 3  # an online status older than this many health periods is stale (missed reports)
PING_SECONDS = 1.0


class Agent:
    """Joins the parts; `run(stop)` loops until `stop` is set or a file source ends, then shuts down cleanly."""

    def __init__(self, config: EdgeConfig, trigger, source, detector, model: RunningModel, publisher, watchdog=None):
        self.config = config
        self.model = model
        self.topics = Topics(config.mqtt.topic_prefix, config.device_id)
        self.trigger = trigger
        self.source = source
        self.detector = detector
        self.classifier = model.classifier
        self.publisher = publisher
        self.watchdog = watchdog or Watchdog()
        self.framing = face_framing(config, model.classifier.metadata.framing)
        self.events = EventTracker(config.trigger.kind, config.trigger.quiet_seconds, config.trigger.max_event_seconds)
        self.counters = Counters()
        self.times = StageTimes()
        self._fps = 0.0
        self._ended = False
        self.unsent_note = "%d results stay in the outbox until the next start"  # the demo's outbox is temporary
        self.tracker = FaceTracker()
        self._tracked_event: str | None = None
        self._near_looks = 0  # detections since the last whole-frame search

    def run(self, stop: threading.Event, pace: bool = True) -> None:
        """Tick at camera.fps, a video file at most at its own rate in real time (unpaced: every frame, at once).

        The loop wakes at least every PING_SECONDS whatever the frame rate, to feed the watchdog and to see
        `stop`; nothing in a tick blocks for long (camera opens run in their own thread, reads have a timeout).
        """
        config = self.config
        rate = config.camera.fps
        if pace and self.source.fps:
            self.source.play_at_own_pace()
            rate = min(rate, self.source.fps)
        interval = 1.0 / rate if pace else 0.0
        next_health = time.monotonic() + config.publish.health_seconds
        self.publisher.start()
        self.watchdog.ready()
        trigger, camera = config.trigger.kind, config.camera
        logger.info("running as %s: trigger %s, camera %s %s", config.device_id, trigger, camera.kind, camera.source)
        next_tick = time.monotonic()
        try:
            while not stop.is_set():
                self.watchdog.ping()
                now = time.monotonic()
                if now >= next_tick:
                    next_tick = max(next_tick + interval, now) if pace else now
                    if not self.tick_safely():
                        logger.info("%s has ended", config.camera.source)
                        break
                if now >= next_health:
                    self.report_health()
                    next_health = now + config.publish.health_seconds
                stop.wait(min(PING_SECONDS, max(0.0, next_tick - time.monotonic())))
        finally:
            self.shutdown()

    def tick_safely(self) -> bool:
        """tick(), logging and counting an error instead of dying of it: the next frame may be fine."""
        try:
            return self.tick()
        except (FerEdgeError, OSError, sqlite3.Error, cv2.error) as exc:
            self.counters.errors += 1
            logger.error("frame skipped: %s (%d errors so far)", exc, self.counters.errors)
            return True

    def tick(self) -> bool:
        """One observation; False once a video file or folder has no more frames."""
        frame = self._read() if self.trigger.needs_frames else None
        with self.times.time("motion"):
            motion = self.trigger.motion(frame[2] if frame else None)
        closed = self.events.update(motion, time.monotonic())
        if closed is not None:
            self._publish_event(closed)
        if self.events.current is not None:
            frame = frame or self._read()
            if frame is not None:
                self._analyse(*frame)
        return not self._ended

    def report_health(self) -> None:
        self._fps = self.counters.frame_rate()
        self.publisher.publish_now(self.topics.status, self._status("online", self.health()))

    def health(self) -> dict[str, Any]:
        outbox = self.publisher.outbox
        return {
            "uptime_s": round(self.counters.uptime(), 1),
            "fps": round(self._fps, 2),
            "queue_depth": len(outbox),
            "frames": self.counters.frames,
            "faces": self.counters.faces,
            "events": self.counters.events,
            "published": self.publisher.published,
            "refused": self.publisher.refused,
            "dropped": outbox.dropped,
            "not_stored": outbox.not_stored,
            "camera_failures": self.source.failures,
            "errors": self.counters.errors,
        }

    def connect_messages(self) -> list[tuple[str, dict[str, Any] | None]]:
        """What to publish, retained, on every connect: online, then Home Assistant discovery (None: clear it)."""
        messages = [(self.topics.status, self._status("online", self.health()))]
        ha = self.config.homeassistant
        if ha.enabled:
            stale_after = STALE_AFTER_REPORTS * self.config.publish.health_seconds
            messages += discovery_messages(
                self.topics, self.classifier.model_id, ha.discovery_prefix, stale_after, ha.emotion_expire_seconds
            )
        return messages

    def offline_message(self) -> tuple[str, dict[str, Any]]:
        return self.topics.status, self._status("offline")

    def shutdown(self) -> None:
        """Close the open event, flush the outbox for a while, say offline, release everything."""
        self.watchdog.stopping()
        closed = self.events.close(time.monotonic())
        if closed is not None:
            self._publish_event(closed)
        # waiting for a broker that is away would only delay the exit (systemd's stop, a Ctrl-C)
        flushed = self.publisher.connected and self.publisher.flush(self.config.publish.flush_seconds)
        if not flushed and len(self.publisher.outbox):
            logger.warning(self.unsent_note, len(self.publisher.outbox))
        self.publisher.stop(goodbye=self.offline_message())
        self.publisher.outbox.close()
        self.source.close()
        self.trigger.close()

    def _read(self) -> tuple[float, np.ndarray, np.ndarray] | None:
        """(capture time, frame as read, gray frame), or None when there is none now."""
        with self.times.time("capture"):
            image = self.source.read()
        if image is None:
            self._ended = self.source.ended
            return None
        self.counters.frames += 1
        return time.time(), image, to_gray(image)

    def _analyse(self, captured_at: float, image: np.ndarray, gray: np.ndarray) -> None:
        event = self.events.current
        if event.id != self._tracked_event:
            self.tracker.reset()
            self._tracked_event = event.id
            self._near_looks = 0
        with self.times.time("detect"):
            found, tracks = self._faces(image, event.frames)
        event.add_frame()
        self.counters.faces_in_frame[len(found)] += 1
        if not found:
            return
        faces = np.stack([frame_face(gray, face.box, self.framing, face.landmarks) for face in found])
        with self.times.time("classify"):
            emotions = self.classifier.classify(faces)
        device, model = self.config.device_id, self.classifier.model_id
        with self.times.time("publish"):
            results = []
            for face, crop, emotion, track in zip(found, faces, emotions, tracks):
                event.add_face([emotion.probabilities[label] for label in self.classifier.labels], track)
                message = emotion_message(
                    device, model, event.id, captured_at, face.box, emotion, self._jpeg(crop), track
                )
                results.append((self.topics.emotion, message))
            self.publisher.publish_all(results)
        self.counters.faces += len(found)

    def _faces(self, image: np.ndarray, index: int) -> tuple[list[Face], list[int]]:
        """The faces of the event's index-th frame and their tracks: detected, or carried between detections."""
        if index % self.config.detector.every_n_frames:
            faces, tracks = self.tracker.carried()
            if faces:
                return [Face(in_frame(face.box, image.shape), face.landmarks) for face in faces], tracks
        found = self._detect(image)
        return found, self.tracker.update(found)

    def _detect(self, image: np.ndarray) -> list[Face]:
        """The frame's faces: near the tracked ones, or from a whole-frame search every full_search_every-th time
        and whenever the near look comes back empty-handed."""
        expected = self.tracker.expected()
        if expected and self._near_looks < self.config.detector.full_search_every - 1:
            near = self.detector.find_near(image, expected)
            if near is not None:
                self._near_looks += 1
                return near
        self._near_looks = 0
        return self.detector.find(image)

    def _jpeg(self, face: np.ndarray) -> bytes | None:
        if not self.config.publish.include_face_image:
            return None
        ok, data = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, self.config.publish.jpeg_quality])
        return data.tobytes() if ok else None

    def _publish_event(self, event: EventRecord) -> None:
        self.counters.events += 1
        message = event_message(self.config.device_id, self.classifier.model_id, event, self.classifier.labels)
        self.publisher.publish(self.topics.event, message)

    def _status(self, state: str, health: dict[str, Any] | None = None) -> dict[str, Any]:
        expire_after = STALE_AFTER_REPORTS * self.config.publish.health_seconds if state == "online" else None
        return status_message(self.config.device_id, self.classifier.model_id, state, time.time(), health,
                              model_sha256=self.model.sha256, rollback=self.model.rollback, expire_after=expire_after)


def face_framing(config: EdgeConfig, model_framing: Framing) -> Framing:
    """The model's framing, with detector.margin / detector.align where the config sets them."""
    margin, align = config.detector.margin, config.detector.align
    return Framing(
        model_framing.margin if margin is None else margin, model_framing.align if align is None else align
    )


def assemble(config: EdgeConfig) -> Agent:
    """Every part built from its own section of the config; errors name the file or field at fault."""
    model = open_running_model(config.classifier, config.model_store)
    detector = open_detector(config.detector)
    outbox = Outbox(config.outbox.path, config.outbox.max_messages, config.outbox.when_full,
                    config.outbox.commit_seconds)
    source = open_source(config.camera)
    trigger = open_trigger(config.trigger)
    agent = Agent(config, trigger, source, detector, model, publisher=None)
    # the publisher asks the agent, on every connect, for its online status (with health) and discovery
    agent.publisher = MqttPublisher(
        config.mqtt,
        outbox,
        client_id=config.mqtt.client_id or f"fer-edge-{config.device_id}",
        will=agent.offline_message,
        on_connect=agent.connect_messages,
        resend_on=f"{config.homeassistant.discovery_prefix}/status" if config.homeassistant.enabled else None,
    )
    return agent
