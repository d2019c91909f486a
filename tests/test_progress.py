"""sweep.progress: an ETA weighted by the cost model, one final line; the CLI's
progress output and its quiet shutdown after an interrupt; ``hopsweep status``'s
remaining compute from a real store."""

from __future__ import annotations

import io
import logging
import os
import re
import signal

import numpy as np
import pytest
import zarr
from cluster_helpers import (
    hopsweep,
    hopsweep_popen,
    pseudo_terminal,
    run_args,
    slow_env,
    wait_for_progress,
    write_config,
)

from kernels.status import PENDING
from sweep import runner
from sweep.config import load_spec
from sweep.cost import remaining_seconds, seed_costs
from sweep.progress import Progress
from sweep.results import read_status

#: A run's tasks, most expensive first as the plan orders them: estimated cost (s)
#: and the group (algorithm) of each. Group 1 is cheap in the model but slow in fact.
COSTS = np.array([16.0, 8.0, 4.0, 2.0, 1.0, 0.5, 0.25, 0.25])
GROUPS = np.array([0, 0, 0, 0, 1, 1, 1, 1])
#: Real seconds per estimated second of each group (the model's error per algorithm).
SLOWNESS = np.array([0.5, 2.0])
POINTS_PER_TASK = 10
#: Seconds the CLI may take to stop after SIGTERM.
EXIT_TIMEOUT = 60


class Clock:
    """A settable clock for Progress, s."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_tasks(progress: Progress, clock: Clock, n: int, *, measured: bool) -> float:
    """Finish the first ``n`` tasks of COSTS one after the other; their real time, s."""
    for cost, group in zip(COSTS[:n], GROUPS[:n], strict=True):
        seconds = cost * SLOWNESS[group]
        clock.now += seconds
        progress.update(POINTS_PER_TASK, cost, group=int(group),
                        spent=seconds if measured else None)
    return clock.now


def test_remaining_seconds_by_cost_and_calibrated_per_group():
    # 10 s spent on cost 4 of 6: 5 s left; points give the same for equal costs
    assert remaining_seconds(10.0, 4.0, 2.0) == 5.0
    # group 1 measured twice as slow as group 0 relative to the model: its rest counts double
    assert remaining_seconds(6.0, [4.0, 1.0], [2.0, 3.0], spent=[4.0, 2.0]) == pytest.approx(
        6.0 * (2.0 * 1.0 + 3.0 * 2.0) / 6.0
    )
    # a group with nothing done yet takes the overall ratio (here 1)
    assert remaining_seconds(3.0, [3.0, 0.0], [0.0, 5.0], spent=[3.0, 0.0]) == 5.0
    assert np.isnan(remaining_seconds(1.0, 0.0, 5.0))  # nothing done: unknown


@pytest.mark.parametrize("n_done", [1, 2, 4, 5, 7])
def test_eta_follows_the_cost_of_the_tasks_left(n_done):
    """Most expensive first: by points the ETA is many times too long, by cost it is exact."""
    total = POINTS_PER_TASK * COSTS.size
    true_total = float((COSTS * SLOWNESS[GROUPS]).sum())
    clock = Clock()
    progress = Progress(total, stream=io.StringIO(), clock=clock)
    progress.expect_cost([COSTS[GROUPS == g].sum() for g in (0, 1)])
    elapsed = run_tasks(progress, clock, n_done, measured=True)
    true_left = true_total - elapsed
    if GROUPS[n_done - 1] == 1:  # both groups measured: exact
        assert progress.eta() == pytest.approx(true_left)
    else:  # group 1 not seen yet: its rest at group 0's speed, off by SLOWNESS[1] / SLOWNESS[0]
        left_0 = (COSTS[n_done:] * (GROUPS[n_done:] == 0)).sum() * SLOWNESS[0]
        left_1 = (COSTS[n_done:] * (GROUPS[n_done:] == 1)).sum() * SLOWNESS[0]
        assert progress.eta() == pytest.approx(left_0 + left_1)
    by_points = Progress(total, stream=io.StringIO(), clock=(points_clock := Clock()))
    run_tasks(by_points, points_clock, n_done, measured=True)  # no expect_cost: by points
    if n_done <= 2:
        assert by_points.eta() > 3 * true_left  # the QA report: 36 min for a 2 min run


def test_eta_from_the_model_alone_without_measured_times():
    clock = Clock()
    progress = Progress(POINTS_PER_TASK * COSTS.size, stream=io.StringIO(), clock=clock)
    progress.expect_cost([COSTS[GROUPS == g].sum() for g in (0, 1)])
    assert np.isnan(progress.eta())
    elapsed = run_tasks(progress, clock, 3, measured=False)
    assert progress.eta() == pytest.approx(elapsed * COSTS[3:].sum() / COSTS[:3].sum())
    assert "ETA ?" not in progress.line()


def test_plain_lines_end_with_one_final_line():
    stream = io.StringIO()
    clock = Clock()
    total = POINTS_PER_TASK * COSTS.size
    progress = Progress(total, stream=stream, interval=0.0, clock=clock)
    progress.expect_cost([COSTS[GROUPS == g].sum() for g in (0, 1)])
    run_tasks(progress, clock, COSTS.size, measured=True)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == COSTS.size  # a line per task but the last, then the final one
    assert [line for line in lines if f"{total}/{total} points" in line] == [lines[-1]]
    assert lines[-1].endswith(f"in 0m{round(clock.now):02d}s")  # 19 s
    assert all("ETA " in line for line in lines[:-1])


def test_a_bar_on_a_terminal_shows_the_cost_eta():
    clock = Clock()
    with pseudo_terminal(columns=100) as (stream, written):
        progress = Progress(POINTS_PER_TASK * COSTS.size, stream=stream, clock=clock)
        assert progress.bar is not None
        progress.expect_cost([COSTS[GROUPS == g].sum() for g in (0, 1)])
        run_tasks(progress, clock, 5, measured=True)
        progress.close()
        minutes, seconds = re.findall(r"ETA (\d+)m(\d\d)s", written())[-1]
    assert int(minutes) * 60 + int(seconds) == round(progress.eta())


def test_a_terminal_without_columns_gets_plain_lines():
    # A pty of width 0 (some CI runners, docker exec -t): a bar there showed nothing
    # for a whole run, so progress falls back to the plain lines.
    clock = Clock()
    with pseudo_terminal(columns=0) as (stream, written):
        progress = Progress(POINTS_PER_TASK * COSTS.size, stream=stream, clock=clock,
                            interval=1.0)
        assert progress.bar is None
        run_tasks(progress, clock, 5, measured=True)
        progress.close()
        text = written()
    assert "ETA " in text and re.search(r"points \(\d+\.\d%\)", text)


def _log_with(logger: logging.Logger, message: str, error: BaseException) -> None:
    try:
        raise error
    except BaseException:
        logger.exception(message)


def test_own_workers_drop_only_the_closing_cluster_noise_and_ignore_sigint():
    from distributed.comm import CommClosedError

    state, worker = (logging.getLogger(name) for name in runner.WORKER_LOGGERS)
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            kind = record.exc_info[0].__name__ if record.exc_info else None
            records.append((record.getMessage(), kind))

    handler = Keep()
    worker.addHandler(handler)  # the state machine's records propagate to it
    sigint = signal.getsignal(signal.SIGINT)
    try:
        runner._quiet_on_interrupt()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        state.warning("Async instruction for <Task cancelled name=\"execute('x')\"> "
                      "ended with CancelledError")
        state.warning("Async instruction for <Task finished> ended with ValueError")
        state.error("Compute Failed")
        _log_with(worker, runner.HEARTBEAT_FAILED, CommClosedError("Stream is closed"))
        _log_with(worker, runner.HEARTBEAT_FAILED, TimeoutError("no answer in 30 s"))
        worker.error(runner.HEARTBEAT_FAILED)
    finally:
        signal.signal(signal.SIGINT, sigint)
        worker.removeHandler(handler)
        for logger in (state, worker):
            logger.removeFilter(runner._CLOSING_NOISE)
    assert records == [("Async instruction for <Task finished> ended with ValueError", None),
                       ("Compute Failed", None),
                       (runner.HEARTBEAT_FAILED, "TimeoutError"),
                       (runner.HEARTBEAT_FAILED, None)]


# --------------------------------------------------------------------------- #
# The real CLI
# --------------------------------------------------------------------------- #


def test_cli_run_prints_one_final_line_and_status_a_remaining_time(tmp_path, small_sweep):
    config = write_config(tmp_path, small_sweep, "\n[cluster]\nworkers = 1\n")
    store = tmp_path / "small.zarr"
    done = hopsweep(*run_args(config, store), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    total = re.search(r"\(\d+ tasks, (\d+) points\)", done.stderr).group(1)
    finals = [line for line in done.stderr.splitlines() if f"{total}/{total} points" in line]
    assert len(finals) == 1 and re.search(r", in \d+m\d\ds$", finals[0]), done.stderr
    assert read_status(store).core_seconds_left == 0.0  # all done
    # alpha = 0.12, 0.16 pending again: the first half's time scaled by the cost model
    root = zarr.open_group(str(store), mode="r+")
    values = root["status"][...]
    values[:, :, 2:] = PENDING
    root["status"][...] = values
    wall = root["wall_time"][...]
    costs = seed_costs(load_spec(config))
    expected = np.nansum(wall[:, :, :2]) * costs[:, :, 2:].sum() / costs[:, :, :2].sum()
    assert read_status(store).core_seconds_left == pytest.approx(expected, rel=1e-12)


def _sigterm_to_the_driver(run) -> None:
    run.send_signal(signal.SIGTERM)


def _ctrl_c_on_the_terminal(run) -> None:
    os.killpg(run.pid, signal.SIGINT)  # its own session: the group is the sweep's


@pytest.mark.parametrize("interrupt", [_sigterm_to_the_driver, _ctrl_c_on_the_terminal])
def test_an_interrupted_sweep_prints_no_worker_noise(tmp_path, long_sweep, interrupt):
    """Workers closing while tasks run logged "Async instruction ... CancelledError"
    (Dask), and a terminal's Ctrl-C, which reaches the whole process group, made the
    worker processes print KeyboardInterrupt tracebacks over the resume command."""
    config = write_config(tmp_path, long_sweep, "\n[cluster]\nworkers = 2\n")
    store = tmp_path / "long.zarr"
    log = tmp_path / "run.log"
    run = hopsweep_popen(*run_args(config, store), cwd=tmp_path, log=log,
                         extra_env=slow_env(1.0))  # every task runs at least 1 s
    wait_for_progress(store, run)
    interrupt(run)
    assert run.wait(timeout=EXIT_TIMEOUT) == 130, log.read_text()
    text = log.read_text()
    assert "resume with: hopsweep run" in text
    for noise in ("CancelledError", "Traceback", "KeyboardInterrupt"):
        assert noise not in text, text
