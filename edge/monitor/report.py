"""`fer-monitor report`: the share of each emotion over time, one panel per device, as a PNG."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from edge.errors import DataError
from edge.labels import EMOTIONS
from edge.monitor.store import read_emotions

# Bin widths tried in order; the first that gives at most MAX_BINS bins over the data's span is used.
BIN_CHOICES = [timedelta(seconds=s) for s in (1, 5, 10, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)]
MAX_BINS = 60
COLORS = {"angry": "#d62728", "disgust": "#8c564b", "fear": "#9467bd", "happy": "#f2c80f",
          "sad": "#1f77b4", "surprise": "#ff7f0e", "neutral": "#a0a0a0"}


PLOTTABLE_YEARS = range(1970, 9000)  # an agent's clock before 1970 or in the far future is wrong, and matplotlib's
# dates stop at years 1 and 9999, which a bin's edge may cross


LEAP_SECOND = re.compile(r"(T\d\d:\d\d):60")


def parse_time(text: str) -> datetime:
    """A message's UTC time; ValueError when it is no ISO 8601 time, or one of a year no agent's clock reads.

    A leap second (23:59:60, which RFC 3339 allows and Python cannot hold) is read as the second after 23:59:59.
    """
    text, leap = LEAP_SECOND.subn(r"\1:59", text.replace("Z", "+00:00"), count=1)
    time = datetime.fromisoformat(text).astimezone(timezone.utc) + timedelta(seconds=leap)
    if time.year not in PLOTTABLE_YEARS:
        raise ValueError(f"year {time.year}")
    return time


def choose_bin(times: list[datetime]) -> timedelta:
    span = max(times) - min(times)
    return next((width for width in BIN_CHOICES if span / width <= MAX_BINS), BIN_CHOICES[-1])


def bin_counts(rows: list[tuple[str, datetime, str]], width: timedelta) -> dict[str, dict[datetime, Counter]]:
    """device -> bin start -> Counter of labels."""
    start = min(time for _, time, _ in rows)
    bins: dict[str, dict[datetime, Counter]] = defaultdict(lambda: defaultdict(Counter))
    for device, time, label in rows:
        bins[device][start + width * ((time - start) // width)][label] += 1
    return bins


def load_rows(database: str | Path) -> tuple[list[tuple[str, datetime, str]], int]:
    """(device, time, label) of each emotion row that has a time to plot, and how many rows had none."""
    rows, left_out = [], 0
    for device, timestamp, label in read_emotions(database):
        if isinstance(device, str) and isinstance(timestamp, str):  # not another program's rows
            try:
                rows.append((device, parse_time(timestamp), label))
                continue
            except (ValueError, OverflowError):
                pass
        left_out += 1
    if not rows:
        raise DataError(f"{database}: no emotion messages with a timestamp to plot")
    return rows, left_out


def plot(database: str | Path, output: str | Path, title: str | None = None) -> tuple[Path, int, int]:
    """Write the PNG: (its path, faces plotted, rows left out for want of a time of 1970-8999); DataError when the
    database holds no emotions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    rows, left_out = load_rows(database)
    width = choose_bin([time for _, time, _ in rows])
    bins = bin_counts(rows, width)
    devices = sorted(bins)
    figure, axes = plt.subplots(len(devices), 1, figsize=(11, 2.6 * len(devices) + 1.2), sharex=True, squeeze=False)
    for axis, device in zip(axes[:, 0], devices):
        draw_device(axis, device, bins[device], width)
    axes[-1, 0].xaxis.set_major_formatter(mdates.ConciseDateFormatter(axes[-1, 0].xaxis.get_major_locator()))
    axes[-1, 0].set_xlabel("time (UTC)")
    height = figure.get_figheight()
    figure.suptitle(title or f"Emotions over time ({len(rows)} faces, bins of {format_width(width)})",
                    y=1 - 0.1 / height, va="top", parse_math=False)  # a title's "$5-$10" is text, not TeX
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLORS[label]) for label in EMOTIONS]
    figure.legend(handles, EMOTIONS, loc="upper center", ncol=len(EMOTIONS), frameon=False,
                  bbox_to_anchor=(0.5, 1 - 0.38 / height))
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.6 / height))
    output = Path(output)
    figure.savefig(output, dpi=110)
    plt.close(figure)
    return output, len(rows), left_out


def draw_device(axis, device: str, bins: dict[datetime, Counter], width: timedelta) -> None:
    """Stacked bars: each bin's share of every emotion; the bin's face count above it."""
    starts = sorted(bins)
    totals = [sum(bins[start].values()) for start in starts]
    bottom = [0.0] * len(starts)
    days = width / timedelta(days=1)
    for label in EMOTIONS:
        shares = [bins[start][label] / total for start, total in zip(starts, totals)]
        axis.bar(starts, shares, width=days * 0.9, bottom=bottom, align="edge", color=COLORS[label], linewidth=0)
        bottom = [b + s for b, s in zip(bottom, shares)]
    axis.set_ylim(0, 1.12)
    axis.set_yticks([0, 0.5, 1])
    axis.set_yticklabels(["0", "50%", "100%"])
    axis.set_ylabel("share")
    axis.set_title(f"{device}: {sum(totals)} faces", loc="left", fontsize=10)
    for start, total in zip(starts, totals):
        axis.text(start + width * 0.45, 1.02, str(total), ha="center", va="bottom", fontsize=7, color="#555")


def format_width(width: timedelta) -> str:
    seconds = int(width.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
