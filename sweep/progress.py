"""Progress of a sweep: a tqdm bar on a terminal, plain periodic lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

#: Seconds between plain progress lines when stderr is not a terminal.
PROGRESS_INTERVAL = 10.0


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


class Progress:
    """Counts points done out of ``total``; shows rate and ETA.

    Parameters
    ----------
    total : int
        Points to compute in this run.
    stream : text stream, default=sys.stderr
    interval : float, default=PROGRESS_INTERVAL
        Seconds between plain lines (no terminal).
    """

    def __init__(self, total: int, stream: TextIO | None = None,
                 interval: float = PROGRESS_INTERVAL):
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.done = 0
        self.start = self.last = time.monotonic()
        self.bar = None
        if self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="pt", file=self.stream, dynamic_ncols=True,
                            desc="hopsweep")

    def line(self) -> str:
        """One plain progress line: done / total, percent, rate, ETA."""
        elapsed = time.monotonic() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        percent = 100.0 * self.done / self.total if self.total else 100.0
        eta_text = _duration(eta) if rate > 0 else "?"
        return (f"hopsweep: {self.done}/{self.total} points ({percent:.1f}%), "
                f"{rate:.1f} points/s, ETA {eta_text}")

    def update(self, points: int) -> None:
        self.done += points
        if self.bar is not None:
            self.bar.update(points)
            return
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        else:
            print(self.line(), file=self.stream, flush=True)
