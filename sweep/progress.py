"""Progress of a sweep: a bar in Jupyter and on a terminal, plain periodic lines otherwise.

In a Jupyter kernel the bar is tqdm's notebook widget when ipywidgets is
installed, else tqdm's text bar on the cell's stderr (Jupyter redraws it in
place); on a terminal with a width, tqdm's text bar; anywhere else (a pipe, a
log file, a terminal of zero columns) a plain line every ``PROGRESS_INTERVAL`` s.

The ETA weighs points by the cost model (:func:`sweep.cost.seed_cost`):
tasks run most expensive first, so the first points take far longer than the
last ones and an ETA from the point rate alone starts out many times too long.
With the estimated cost of the run and of each finished task the ETA is
``elapsed * remaining cost / completed cost`` (:func:`sweep.cost.remaining_seconds`), the
model's cost calibrated per algorithm by the measured solver time of the tasks
done (the model's ratios between algorithms are off by up to ten times, those
between sizes and loads of one algorithm much less). Without costs it falls
back to point counts.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

import numpy as np

from .cost import remaining_seconds

#: Seconds between plain progress lines when stderr is not a terminal.
PROGRESS_INTERVAL = 10.0
#: tqdm bar without tqdm's own ETA (point rate): ours comes in the postfix.
BAR_FORMAT = ("{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
              "[{elapsed}, {rate_fmt}{postfix}]")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _sized_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal with a width: a bar on a 0-column pty (some CI
    runners, ``docker exec -t``) would show nothing, so that gets plain lines."""
    try:
        return stream.isatty() and os.get_terminal_size(stream.fileno()).columns > 0
    except (AttributeError, OSError, ValueError):  # no file descriptor, or not a tty
        return False


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython with a kernel app)."""
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    try:
        return "IPKernelApp" in shell.get_ipython().config
    except AttributeError:  # IPython imported, but no shell running
        return False


def _notebook_bar(total: int):
    """A tqdm bar for a Jupyter cell: the widget if ipywidgets is there, else text on stderr."""
    import importlib.util

    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm

        return tqdm(total=total, unit="pt", desc="hopsweep")
    from tqdm import tqdm

    return tqdm(total=total, unit="pt", file=sys.stderr, desc="hopsweep", bar_format=BAR_FORMAT)


class Progress:
    """Counts points done out of ``total``; shows rate and ETA.

    Parameters
    ----------
    total : int
        Points to compute in this run.
    stream : text stream, default=sys.stderr
    interval : float, default=PROGRESS_INTERVAL
        Seconds between plain lines (no terminal).
    clock : callable, default=time.monotonic
        Current time, s.
    notebook : bool, optional
        Show the Jupyter bar (default: when running in a Jupyter kernel and no
        ``stream`` is given).

    Notes
    -----
    Call :meth:`expect_cost` with the estimated cost of the run and pass each
    task's cost (and measured solver time) to :meth:`update` for an ETA weighted
    by cost; otherwise every point counts the same.
    """

    def __init__(self, total: int, stream: TextIO | None = None,
                 interval: float = PROGRESS_INTERVAL,
                 clock: Callable[[], float] = time.monotonic, notebook: bool | None = None):
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.clock = clock
        self.done = 0
        self.cost_left: np.ndarray | None = None  # (G,), cost model, s
        self.cost_measured = self.spent = np.zeros(1)  # (G,): work with a measured time
        self.cost_unmeasured = 0.0
        self.start = self.last = clock()
        self.bar = None
        if notebook is None:
            notebook = stream is None and in_notebook()
        if notebook:
            self.bar = _notebook_bar(total)
        elif _sized_terminal(self.stream):
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="pt", file=self.stream, dynamic_ncols=True,
                            desc="hopsweep", bar_format=BAR_FORMAT)

    def expect_cost(self, cost) -> None:
        """Set the estimated cost of the ``total`` points.

        Parameters
        ----------
        cost : float or array_like of shape (G,)
            Cost model estimate, s, per group of work whose measured times
            calibrate the model separately (e.g. per algorithm).
        """
        self.cost_left = np.atleast_1d(np.array(cost, dtype=float))
        self.cost_measured = np.zeros_like(self.cost_left)
        self.spent = np.zeros_like(self.cost_left)

    def eta(self) -> float:
        """Estimated seconds left (:func:`remaining_seconds`): by cost, calibrated by the
        measured times when there are some, else by points; NaN at first."""
        elapsed = self.clock() - self.start
        if self.cost_left is not None and self.spent.sum() > 0:
            return remaining_seconds(elapsed, self.cost_measured, self.cost_left, self.spent)
        if self.cost_left is not None and self.cost_unmeasured > 0:
            return remaining_seconds(elapsed, self.cost_unmeasured, self.cost_left.sum())
        return remaining_seconds(elapsed, self.done, self.total - self.done)

    def _counts(self) -> tuple[str, float]:
        """``"done/total points (percent%)"`` and the rate, points/s."""
        elapsed = self.clock() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        percent = 100.0 * self.done / self.total if self.total else 100.0
        return f"{self.done}/{self.total} points ({percent:.1f}%)", rate

    def line(self) -> str:
        """One plain progress line: done / total, percent, rate, ETA."""
        counts, rate = self._counts()
        eta = self.eta()
        eta_text = _duration(eta) if np.isfinite(eta) else "?"
        return f"hopsweep: {counts}, {rate:.1f} points/s, ETA {eta_text}"

    def final_line(self) -> str:
        """The closing line: done / total, percent, rate and the time taken."""
        counts, rate = self._counts()
        return (f"hopsweep: {counts}, {rate:.1f} points/s, "
                f"in {_duration(self.clock() - self.start)}")

    def update(self, points: int, cost: float = 0.0, group: int = 0,
               spent: float | None = None) -> None:
        """Count ``points`` more done.

        Parameters
        ----------
        points : int
        cost : float, default=0.0
            Their estimated cost (cost model, s).
        group : int, default=0
            Their group in :meth:`expect_cost`.
        spent : float, optional
            Their measured solver time, core-seconds (None, e.g. for failed points:
            not measured, no calibration).

        Without a terminal a line is printed every ``interval`` s, except when
        the last points are done: :meth:`close` prints the final line.
        """
        self.done += points
        if self.cost_left is not None:
            self.cost_left[group] -= cost
            if spent is None:
                self.cost_unmeasured += cost
            else:
                self.cost_measured[group] += cost
                self.spent[group] += spent
        if self.bar is not None:
            eta = self.eta()
            self.bar.set_postfix_str(f"ETA {_duration(eta) if np.isfinite(eta) else '?'}",
                                     refresh=False)
            self.bar.update(points)
            return
        now = self.clock()
        if now - self.last >= self.interval and self.done < self.total:
            self.last = now
            print(self.line(), file=self.stream, flush=True)

    def close(self) -> None:
        """Close the bar, or print the final line."""
        if self.bar is not None:
            self.bar.close()
        else:
            print(self.final_line(), file=self.stream, flush=True)
