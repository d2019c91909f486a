"""The Python API: run a sweep, look at a store, plan a run without running it.

``sweep.run(config, ...)`` does everything ``hopsweep run`` does and the command
is a thin layer over it (:mod:`sweep.cli`): check the config, create, resume or
(``overwrite=True``) replace the store, hold its lock, compute what is pending
on a Dask cluster (the caller's ``distributed.Client``, never closed, or a
cluster started from ``[cluster]`` and closed at the end), turn SIGTERM into
KeyboardInterrupt so an interrupted run keeps what it wrote, and return the
results as an xarray Dataset. Errors are typed (:mod:`sweep.errors`), their
messages speak Python keywords; the command renders them with its flags.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kernels.status import FAILED, PENDING

from .config import Config, as_spec
from .errors import PYTHON_WORDS, ClusterUnavailable, StoreMismatch
from .lock import StoreLock
from .spec import BATCH_KINDS

if TYPE_CHECKING:
    import distributed
    import xarray

    from .plan import Plan
    from .results import StoreStatus
    from .runner import RunSummary
    from .spec import Spec

#: Prefix of the lines a run reports (to stderr).
PREFIX = "hopsweep: "


class FailedPointsWarning(UserWarning):
    """Some points of a finished run failed; their errors are in the store."""


def _stderr(line: str) -> None:
    print(f"{PREFIX}{line}", file=sys.stderr, flush=True)


def option_notes(spec: Spec) -> list[str]:
    """Notes on ``[solver]`` options that do not act as written: one line per option
    set away from its default that no selected algorithm reads (it is accepted, and
    part of the spec hash, but has no effect), and one when ``dtype`` raises ``tol``."""
    from kernels.registry import unused_options

    notes = [
        f"[solver] {name} = {getattr(spec.options, name)!r} has no effect: it is read "
        f"by {', '.join(readers)} only, and grid.algorithm selects none of them"
        for name, readers in unused_options(spec.algorithm, spec.options).items()
    ]
    options = spec.options
    if options.effective_tol > options.tol:
        notes.append(f"[solver] tol = {options.tol:g} is raised to {options.effective_tol:.2g} "
                     f"by dtype = {options.dtype!r} (32 machine epsilons: below that the "
                     "residual is rounding noise; the store's attribute effective_tol says so)")
    return notes


@dataclass(frozen=True)
class RunReport:
    """What :func:`execute` did.

    Attributes
    ----------
    store : Path
    spec : Spec
    created : bool
        Whether this run made (or replaced) the store.
    summary : RunSummary or None
        What the runner computed (None when nothing was pending).
    failed, pending : int
        Points of the store failed / still pending after the run.
    """

    store: Path
    spec: Spec
    created: bool
    summary: RunSummary | None
    failed: int
    pending: int


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt while inside (main thread only), so a run
    stopped by a batch system or ``kill`` ends like Ctrl-C: what was written is kept."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _open_store(spec: Spec, plan: Plan, path: Path, overwrite: bool) -> tuple[StoreLock, bool]:
    """Create, verify or (``overwrite``) replace the store, and lock it exclusively.

    Returns
    -------
    (StoreLock, bool)
        The store's lock, held, and whether this call made the store.
    """
    from . import store as st

    if overwrite and path.exists():
        st.stored_hash(path)  # refuses to replace anything but a hopsweep store
        with StoreLock(path):
            st.replace(path, spec, plan)
        created = True
    else:
        created = st.create(path, spec, plan)
    return StoreLock(path).acquire(), created


@contextlib.contextmanager
def _client(spec: Spec, client: distributed.Client | None,
            say: Callable[[str], None]) -> Iterator[distributed.Client]:
    """The caller's client (left open), or one of the cluster ``[cluster]`` asks for."""
    if client is not None:
        yield client
        return
    from .cluster import connect

    with connect(spec.cluster) as own:
        say(f"dashboard {own.dashboard_link}")
        yield own


def execute(spec: Spec, store: str | os.PathLike | None = None, *,
            client: distributed.Client | None = None, overwrite: bool = False,
            retry_failed: bool = False, progress: bool = True,
            say: Callable[[str], None] = _stderr) -> RunReport:
    """Compute every pending point of a spec's store (what :func:`run` and ``hopsweep run`` do).

    Parameters
    ----------
    spec : Spec
    store, client, overwrite, retry_failed, progress
        As in :func:`run`.
    say : callable, default=print to stderr
        Receives the run's report lines (store, dashboard, counts).

    Returns
    -------
    RunReport

    Raises
    ------
    sweep.errors.SpecError, StoreMismatch, StoreLocationError, StoreBusy, ClusterUnavailable
        Nothing was computed (and a store this call made is removed again).
    KeyboardInterrupt
        Ctrl-C or SIGTERM: the points written so far are kept; run again to resume.
    """
    from . import runner
    from . import store as st
    from .cluster import check, check_memory
    from .plan import make_plan
    from .progress import Progress

    path = Path(spec.store if store is None else store)
    plan = make_plan(spec)
    if client is None:
        check(spec.cluster)  # batch settings, before anything is written
        check_memory(spec.cluster, plan.task_bytes())
    lock, created = _open_store(spec, plan, path, overwrite)
    try:
        plan = st.stored_plan(path, plan)  # a store made by another version keeps its chunks
        say(f"{spec.name} -> {path} ({plan.n_tasks} tasks, {spec.n_points} points)")
        for note in option_notes(spec):
            say(f"note: {note}")
        summary = None
        todo = int(plan.todo(st.Writer(path).status(), retry_failed).sum()) * spec.points_per_seed
        if todo:
            with _sigterm_interrupts():
                try:
                    with _client(spec, client, say) as active:
                        bar = Progress(todo) if progress else None
                        try:
                            summary = runner.run(plan, str(path), active,
                                                 retry_failed=retry_failed, progress=bar,
                                                 own_workers=client is None)
                        finally:
                            if bar is not None:
                                bar.close()
                except ClusterUnavailable:
                    if created:  # nothing was computed: leave nothing behind
                        lock.release()
                        shutil.rmtree(path, ignore_errors=True)
                    raise
                finally:
                    if path.exists():
                        st.touch(path)
        status = st.Writer(path).status()
    finally:
        lock.release()
    return RunReport(path, spec, created, summary, int((status == FAILED).sum()),
                     int((status == PENDING).sum()))


def run(config: Config, *, store: str | os.PathLike | None = None,
        client: distributed.Client | None = None, overwrite: bool = False,
        retry_failed: bool = False, progress: bool = True) -> xarray.Dataset:
    """Run a sweep: create (or resume) its store, compute what is pending, return the results.

    Parameters
    ----------
    config : path-like, dict or Spec
        A TOML config file, a dict with the TOML's tables (``{"grid": {...}, ...}``),
        or a Spec (:func:`sweep.config.as_spec`).
    store : path-like, optional
        Store directory; default ``results/<name>.zarr`` under the current directory.
    client : distributed.Client, optional
        Run on this client's cluster; it is used, never closed. Default: start
        the cluster ``[cluster]`` asks for (a local one unless told otherwise)
        and close it at the end.
    overwrite : bool, default=False
        Replace a store made from another spec (only a hopsweep store is ever replaced).
    retry_failed : bool, default=False
        Recompute failed points too.
    progress : bool, default=True
        Show a progress bar (Jupyter widget, terminal bar or plain lines) and
        the run's report lines on stderr.

    Returns
    -------
    xarray.Dataset
        The store, opened lazily (:func:`sweep.open_results`): every point
        computed, unless some failed (a :class:`FailedPointsWarning` says so;
        their errors are in ``error`` and in :func:`sweep.status`).

    Raises
    ------
    sweep.errors.SpecError
        A bad config: every problem, each naming its key and the fix.
    sweep.errors.StoreMismatch
        ``store`` holds another spec (pass ``overwrite=True``) or is no hopsweep store.
    sweep.errors.StoreBusy
        Another process is writing ``store``.
    sweep.errors.StoreLocationError
        No store can be made at ``store``.
    sweep.errors.ClusterUnavailable
        The cluster could not be started or reached; nothing was computed.
    KeyboardInterrupt
        Interrupted (Ctrl-C, SIGTERM): the points written are kept; call again to resume.

    Examples
    --------
    >>> from distributed import Client, LocalCluster                 # doctest: +SKIP
    >>> with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, \\
    ...         Client(cluster) as client:                            # doctest: +SKIP
    ...     ds = sweep.run("examples/quick.toml", client=client)
    """
    from .results import open_results

    spec = as_spec(config)
    say = _stderr if progress else (lambda line: None)
    report = execute(spec, store, client=client, overwrite=overwrite,
                     retry_failed=retry_failed, progress=progress, say=say)
    if report.failed:
        warnings.warn(f"{report.failed} points of {report.store} failed: sweep.status(store) "
                      "lists their errors; recompute them with retry_failed=True",
                      FailedPointsWarning, stacklevel=2)
    return open_results(report.store)


def status(store: str | os.PathLike) -> StoreStatus:
    """What a store holds so far: counts per status, rate, remaining compute, errors.

    Parameters
    ----------
    store : path-like

    Returns
    -------
    sweep.results.StoreStatus
        ``print()`` it for the report ``hopsweep status`` shows.

    Raises
    ------
    sweep.errors.StoreMismatch
        No hopsweep store at ``store``.
    """
    from .results import read_status

    return read_status(store)


@dataclass(frozen=True)
class DryRun:
    """What a run of a config would do, without doing it (:func:`dry_run`).

    Attributes
    ----------
    spec : Spec
    plan : Plan
        With the store's chunks when the store exists with the same spec.
    store : Path
    state : str
        What a run would do with the store (template with ``{overwrite_flag}``).
    estimated_bytes : int
        Upper bound of the store size.
    estimated_seconds : float
        Compute time on one core of what a run would compute, s.
    estimate_basis : str
        How ``estimated_seconds`` was made (a pilot run, or the times of the
        points a resumed store already holds).
    notes : list of str
        Options that have no effect.
    job_script : str or None
        The worker job script of a batch cluster.
    """

    spec: Spec
    plan: Plan
    store: Path
    state: str
    estimated_bytes: int
    estimated_seconds: float
    estimate_basis: str
    pilot_seconds: float
    notes: list[str]
    job_script: str | None

    def lines(self, words: dict[str, str] = PYTHON_WORDS) -> list[str]:
        """The summary, one line per item (``words`` name the arguments)."""
        spec, plan = self.spec, self.plan
        seconds, workers = self.estimated_seconds, spec.cluster.workers
        out = [
            f"spec      {spec.name} (hash {spec.hash[:12]})",
            f"points    {spec.n_points} = "
            + " x ".join(f"{dim} {size}" for dim, size in zip(spec.dims, spec.shape, strict=True))
            + _transition_line(spec),
            f"tasks     {plan.n_tasks} ({plan.seed_block} seeds per task)",
            f"chunks    {plan.n_chunks} per variable, chunk sizes {plan.chunks}",
            f"store     {self.store} ({self.state.format(**words)}), at most "
            f"{_human_bytes(self.estimated_bytes)}",
            f"memory    about {_human_bytes(plan.task_bytes())} per task at its peak (largest "
            "pattern matrix and the solver's copies of it)",
            f"estimate  {seconds:.0f} core-seconds of compute ({_human_seconds(seconds)} on "
            f"one core, {_human_seconds(seconds / workers)} on {workers}; "
            f"{self.estimate_basis})",
            f"cluster   {spec.cluster.kind}, {workers} workers, "
            f"{spec.cluster.max_in_flight} tasks in flight",
            *(f"note      {note}" for note in self.notes),
        ]
        if self.job_script is not None:
            out += ["worker job script:", self.job_script]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _transition_line(spec: Spec) -> str:
    """What a transition-mode point is (empty for a grid)."""
    t = spec.transition
    if t is None:
        return ""
    from .cost import search_points

    return (f" (transition mode: one {t.kind} per sample, {t.searched} in [{t.lo:g}, "
            f"{t.hi:g}] to {t.precision:g}, at most {search_points(spec)} solves each)")


def _human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def _human_seconds(seconds: float) -> str:
    for unit, size in (("days", 86400.0), ("hours", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"about {seconds / size:.1f} {unit}"
    return f"about {seconds:.0f} s"


def dry_run(config: Config, *, store: str | os.PathLike | None = None) -> DryRun:
    """Check a config and plan its run without writing anything.

    Parameters
    ----------
    config : path-like, dict or Spec
        As in :func:`run`.
    store : path-like, optional
        As in :func:`run`.

    Returns
    -------
    DryRun
        Points, tasks, chunks, store state and size, cost estimate, the worker
        job script of a batch cluster; ``print()`` it for the summary.

    Raises
    ------
    sweep.errors.SpecError
        A bad config (batch-system settings included).
    """
    from .cluster import check, check_memory
    from .plan import make_plan
    from .store import location_problem, stored_hash, stored_plan

    spec = as_spec(config)
    check(spec.cluster)
    plan = make_plan(spec)
    check_memory(spec.cluster, plan.task_bytes())
    path = Path(spec.store if store is None else store)
    same_store = False
    if path.exists():
        try:
            same = stored_hash(path) == spec.hash
        except StoreMismatch:
            state = "exists but is not a hopsweep store: would refuse, even with {overwrite_flag}"
        else:
            state = ("exists, same spec: would resume" if same else
                     "exists with another spec: would refuse without {overwrite_flag}")
            plan = stored_plan(path, plan) if same else plan
            same_store = same
    else:
        problem = location_problem(path)
        state = "new" if problem is None else "cannot be created: " + problem.replace("{", "{{")
    script = None
    if spec.cluster.kind in BATCH_KINDS:
        from .cluster.jobqueue import job_script

        script = job_script(spec.cluster)
    seconds, basis, pilot = _estimate(spec, path if same_store else None)
    return DryRun(spec, plan, path, state, plan.estimated_bytes(), seconds, basis, pilot,
                  option_notes(spec), script)


def _estimate(spec: Spec, store: Path | None) -> tuple[float, str, float]:
    """Compute time of what a run would compute (core-seconds), how it was made,
    and the seconds of the pilot run it took.

    A store of the same spec that already holds measured points calibrates the
    cost model of its pending points with their times; otherwise a short pilot
    run measures a few seeds (:mod:`sweep.calibration`).
    """
    if store is not None:
        from .results import read_status

        stored = read_status(store)
        if stored.core_seconds_left is not None:
            return stored.core_seconds_left, (
                f"pending points, calibrated by the {stored.done} points already computed"), 0.0
    from .calibration import calibrate

    calibration = calibrate(spec)
    return calibration.total_seconds, (
        f"measured by a pilot of {calibration.samples} seeds in "
        f"{calibration.pilot_seconds:.1f} s"), calibration.pilot_seconds
