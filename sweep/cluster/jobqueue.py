"""Dask clusters on batch systems (Slurm, PBS) through dask-jobqueue.

The ``[cluster.jobqueue]`` table of a config maps onto the keyword arguments of
``dask_jobqueue.SLURMCluster`` / ``PBSCluster``; keys left out fall back to
dask-jobqueue's own configuration (``~/.config/dask/jobqueue.yaml``), so site
defaults live there and not here.

Workers retire before the batch system kills them: each worker gets
``--lifetime = walltime - lifetime_margin`` and ``--lifetime-stagger``, so a
walltime ends a worker gracefully and adaptive scaling submits a fresh job.
Results are on disk as soon as each task ends, so a retired or killed worker
costs at most its running task.

The scheduler (in the driver) and its dashboard listen on 127.0.0.1 unless a
network ``interface`` is configured; ``adapt(minimum, maximum)`` counts worker
jobs. ``job_script(cluster_spec)`` shows what a worker job would run without
starting anything (``hopsweep run --dry-run`` prints it).
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import dask.config
import dask_jobqueue  # also registers dask-jobqueue's config: the site defaults
from dask.utils import parse_timedelta

from ..spec import BATCH_KINDS
from . import environment

if TYPE_CHECKING:
    from dask_jobqueue.core import JobQueueCluster

#: Batch systems this module can drive (also their dask-jobqueue config section names).
KINDS = BATCH_KINDS

#: Keys of ``[cluster.jobqueue]`` handed unchanged to dask-jobqueue.
PASSTHROUGH_KEYS = (
    "cores",
    "memory",
    "processes",
    "walltime",
    "queue",
    "account",
    "local_directory",
    "interface",
    "python",
)

#: Keys of ``[cluster.jobqueue]`` renamed on the way to dask-jobqueue.
RENAMED_KEYS = {
    "job_directives": "job_extra_directives",
    "prologue": "job_script_prologue",
}

#: Keys that shape the worker command line rather than the job.
LIFETIME_KEYS = ("lifetime_margin", "lifetime_stagger")

JOBQUEUE_KEYS = PASSTHROUGH_KEYS + tuple(RENAMED_KEYS) + LIFETIME_KEYS

#: Defaults of the lifetime keys: retire 5 minutes (+/- 2) before walltime.
DEFAULT_LIFETIME_MARGIN = "5m"
DEFAULT_LIFETIME_STAGGER = "2m"

#: Job name shown by ``squeue`` / ``qstat`` for every worker job.
JOB_NAME = "hopsweep-worker"

#: Adaptive scaling's target duration (dask's default is 5 s). Adapt asks for
#: about (expected work of the tasks on the scheduler) / target_duration workers,
#: and the runner keeps only about 2 tasks per worker in flight (tasks of >= 0.5 s
#: by the plan's cost model), so with 5 s it would keep a fraction of the allowed
#: worker jobs; 1 s lets it reach the maximum.
ADAPT_TARGET_DURATION = "1s"

#: Where the scheduler listens when no network interface is configured.
LOCALHOST = "127.0.0.1"

#: Placeholder scheduler address in a job script printed without a running scheduler.
SCHEDULER_PLACEHOLDER = "tcp://SCHEDULER_ADDRESS"

#: Exported by every worker job before the worker starts: the local workers'
#: environment (sweep.cluster.environment.WORKER_ENVIRONMENT: one Numba and one BLAS thread
#: per task) and the nanny's pre-spawn overrides (NANNY_PRE_SPAWN_ENVIRON, as a
#: dict literal in Dask's environment configuration: variable names are
#: lower-cased, so a key such as MALLOC_TRIM_THRESHOLD_ cannot be set alone).
WORKER_ENVIRONMENT = (
    *(f"export {name}={value}" for name, value in environment.WORKER_ENVIRONMENT.items()),
    f'export DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON="{environment.NANNY_PRE_SPAWN_ENVIRON!r}"',
)

_WALLTIME = re.compile(
    r"^(?:(?P<days>\d+)-)?(?P<hours>\d+):(?P<minutes>\d{1,2}):(?P<seconds>\d{1,2})$"
)


def _field(obj: Any, key: str, default: Any = None) -> Any:
    """``obj[key]`` for a mapping, ``obj.key`` otherwise; ``default`` when absent or None."""
    value = obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)
    return default if value is None else value


def walltime_seconds(walltime: str) -> float:
    """Seconds in a batch walltime ``[D-]HH:MM:SS``.

    Parameters
    ----------
    walltime : str
        Walltime as Slurm and PBS write it, e.g. ``"01:30:00"`` or ``"2-00:00:00"``.

    Returns
    -------
    float
        The walltime in seconds.

    Examples
    --------
    >>> walltime_seconds("1-01:00:30")
    90030.0
    """
    match = _WALLTIME.match(str(walltime).strip())
    if match is None:
        raise ValueError(
            f"cluster.jobqueue.walltime: expected [D-]HH:MM:SS, got {walltime!r} "
            '(write e.g. walltime = "01:00:00")'
        )
    parts = {k: int(v or 0) for k, v in match.groupdict().items()}
    return float(
        ((parts["days"] * 24 + parts["hours"]) * 60 + parts["minutes"]) * 60 + parts["seconds"]
    )


def _duration(table: Mapping, key: str, default: str) -> float:
    value = _field(table, key, default)
    try:
        return float(parse_timedelta(value, default="s"))
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(
            f"cluster.jobqueue.{key}: expected a duration like '5m' or '90s', got {value!r}"
        ) from err


def lifetime_args(kind: str, table: Mapping) -> list[str]:
    """Worker ``--lifetime`` / ``--lifetime-stagger`` arguments for a batch walltime.

    The lifetime is ``walltime - lifetime_margin``; the actual lifetime of each
    worker is drawn uniformly in ``lifetime +/- lifetime_stagger``, so the margin
    must exceed the stagger (or a worker could outlive its job) and the lifetime
    must exceed the stagger (or a worker could retire at once).

    Parameters
    ----------
    kind : {"slurm", "pbs"}
        Batch system; the walltime comes from ``table`` or, if absent, from
        dask-jobqueue's configuration for that system.
    table : mapping
        The ``[cluster.jobqueue]`` table.

    Returns
    -------
    list of str
        ``["--lifetime", "<s>s", "--lifetime-stagger", "<s>s"]``.
    """
    walltime = _field(table, "walltime") or dask.config.get(f"jobqueue.{kind}.walltime")
    total = walltime_seconds(walltime)
    margin = _duration(table, "lifetime_margin", DEFAULT_LIFETIME_MARGIN)
    stagger = _duration(table, "lifetime_stagger", DEFAULT_LIFETIME_STAGGER)
    if margin <= stagger:
        raise ValueError(
            f"cluster.jobqueue.lifetime_margin: must exceed lifetime_stagger ({stagger:g} s), "
            f"got {margin:g} s (raise lifetime_margin or lower lifetime_stagger)"
        )
    lifetime = total - margin
    if lifetime <= stagger:
        raise ValueError(
            f"cluster.jobqueue.lifetime_margin: walltime {walltime} minus margin {margin:g} s "
            f"leaves {lifetime:g} s, not more than the stagger {stagger:g} s "
            "(raise walltime or lower lifetime_margin / lifetime_stagger)"
        )
    return ["--lifetime", f"{lifetime:g}s", "--lifetime-stagger", f"{stagger:g}s"]


def job_kwargs(cluster_spec: Any) -> dict[str, Any]:
    """Keyword arguments of one dask-jobqueue worker job, from the ``[cluster]`` table.

    Parameters
    ----------
    cluster_spec : mapping or object
        The validated ``[cluster]`` table: ``kind`` in ``KINDS`` and a
        ``jobqueue`` sub-table (keys in ``JOBQUEUE_KEYS``; absent keys fall back
        to dask-jobqueue's configuration).

    Returns
    -------
    dict
        Arguments accepted by ``SLURMJob`` / ``PBSJob`` and by the cluster classes.
    """
    kind = _field(cluster_spec, "kind")
    if kind not in KINDS:
        raise ValueError(f"cluster.kind: expected one of {KINDS} for a batch cluster, got {kind!r}")
    table = _field(cluster_spec, "jobqueue", {})
    unknown = sorted(set(table) - set(JOBQUEUE_KEYS)) if isinstance(table, Mapping) else []
    if unknown:
        raise ValueError(
            f"cluster.jobqueue.{unknown[0]}: unknown key (allowed: {', '.join(JOBQUEUE_KEYS)})"
        )
    kwargs: dict[str, Any] = {
        key: _field(table, key) for key in PASSTHROUGH_KEYS if _field(table, key) is not None
    }
    # The driver's own python unless the config or the site names one.
    site_python = dask.config.get(f"jobqueue.{kind}.python", None)
    kwargs.setdefault("python", site_python or sys.executable)
    for ours, theirs in RENAMED_KEYS.items():
        if _field(table, ours) is not None:
            kwargs[theirs] = list(_field(table, ours))
    # Without a prologue in the config the site's (jobqueue.yaml) applies; either way
    # the thread limits come first so a site line can still override them.
    site_prologue = dask.config.get(f"jobqueue.{kind}.job-script-prologue", None) or []
    prologue = kwargs.get("job_script_prologue", site_prologue)
    kwargs["job_script_prologue"] = [*WORKER_ENVIRONMENT, *prologue]
    kwargs["worker_extra_args"] = lifetime_args(kind, table)
    kwargs["job_name"] = JOB_NAME
    return kwargs


class _AdaptInJobs:
    """``adapt(minimum, maximum)`` counted in worker jobs, with ADAPT_TARGET_DURATION.

    ``[cluster.adapt]`` bounds are worker jobs (``[cluster] workers`` is the number
    of worker jobs); dask-jobqueue counts worker processes unless told ``*_jobs``.
    """

    def adapt(self, *args, minimum: int = 0, maximum: int | None = None, **kwargs):
        kwargs.setdefault("target_duration", ADAPT_TARGET_DURATION)
        if maximum is not None:
            kwargs["maximum_jobs"] = maximum
        return super().adapt(*args, minimum_jobs=minimum, **kwargs)


class SLURMCluster(_AdaptInJobs, dask_jobqueue.SLURMCluster):
    """dask-jobqueue's SLURMCluster, adapting in worker jobs."""


class PBSCluster(_AdaptInJobs, dask_jobqueue.PBSCluster):
    """dask-jobqueue's PBSCluster, adapting in worker jobs."""


#: Cluster class of each batch system (its ``job_cls`` builds one worker job).
CLUSTERS = {"slurm": SLURMCluster, "pbs": PBSCluster}


def job_script(cluster_spec: Any) -> str:
    """The batch script one worker job would submit, without starting a scheduler.

    The scheduler address appears as ``SCHEDULER_PLACEHOLDER``; ``--dry-run`` prints this.

    Parameters
    ----------
    cluster_spec : mapping or object
        The ``[cluster]`` table (see :func:`job_kwargs`).

    Returns
    -------
    str
        The job script text.
    """
    kwargs = job_kwargs(cluster_spec)
    job_cls = CLUSTERS[_field(cluster_spec, "kind")].job_cls
    return job_cls(scheduler=SCHEDULER_PLACEHOLDER, name="hopsweep", **kwargs).job_script()


def scheduler_options(cluster_spec: Any) -> dict[str, Any]:
    """Options of the scheduler of a batch cluster: localhost unless configured otherwise.

    The site's ``jobqueue.<kind>.scheduler-options`` (dask config) are kept;
    ``dashboard_address`` from the spec overrides theirs. Without a network
    ``interface`` (config or site) and without a site ``host``/``interface`` the
    scheduler listens on 127.0.0.1 only, with a warning: worker jobs on other
    nodes cannot reach it until ``[cluster.jobqueue] interface`` names a
    cluster-internal network.

    Parameters
    ----------
    cluster_spec : mapping or object
        The ``[cluster]`` table (see :func:`job_kwargs`).

    Returns
    -------
    dict
        ``scheduler_options`` for ``SLURMCluster`` / ``PBSCluster``.
    """
    kind = _field(cluster_spec, "kind")
    options = dict(dask.config.get(f"jobqueue.{kind}.scheduler-options", None) or {})
    dashboard = _field(cluster_spec, "dashboard_address")
    if dashboard is not None:
        options["dashboard_address"] = dashboard
    interface = _field(_field(cluster_spec, "jobqueue", {}), "interface") or dask.config.get(
        f"jobqueue.{kind}.interface", None
    )
    if interface is None and "host" not in options and "interface" not in options:
        options["host"] = LOCALHOST
        warnings.warn(
            f"cluster.jobqueue.interface is not set: the scheduler listens on {LOCALHOST} "
            'only, so only worker jobs on this node can reach it (set interface = "ib0" '
            "or another cluster-internal network to accept workers from other nodes)",
            UserWarning,
            stacklevel=2,
        )
    return options


def make_cluster(cluster_spec: Any) -> JobQueueCluster:
    """Start a dask-jobqueue cluster (scheduler here, workers as batch jobs).

    No job is submitted yet: call ``cluster.adapt(minimum=..., maximum=...)``,
    counted in worker jobs (target duration ``ADAPT_TARGET_DURATION``).
    Scheduler and dashboard listen on localhost unless configured otherwise
    (:func:`scheduler_options`).

    Parameters
    ----------
    cluster_spec : mapping or object
        The ``[cluster]`` table: ``kind`` ("slurm" or "pbs"), ``jobqueue``
        (see :func:`job_kwargs`) and optionally ``dashboard_address``.

    Returns
    -------
    dask_jobqueue.core.JobQueueCluster
        ``cluster.job_script()`` shows what each worker job runs.
    """
    kwargs = job_kwargs(cluster_spec)
    kwargs["scheduler_options"] = scheduler_options(cluster_spec)
    return CLUSTERS[_field(cluster_spec, "kind")](**kwargs)
