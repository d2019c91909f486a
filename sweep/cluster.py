"""Connect to the Dask cluster a spec asks for: local, an address (+TLS), Slurm or PBS.

``connect(cluster_spec)`` is a context manager yielding a ``distributed.Client``;
leaving it closes the client and whatever cluster it started.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .spec import ClusterSpec

if TYPE_CHECKING:
    import distributed

#: Environment of worker processes, local or in batch jobs: one task per core, one
#: thread each (PERFORMANCE.md: oversubscription on 2 cores is catastrophic).
WORKER_ENVIRONMENT = {
    "NUMBA_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
#: Overrides of the variables a Dask nanny exports before it spawns its worker
#: (``distributed.nanny.pre-spawn-environ``; None unsets one), local or in batch
#: jobs: no MALLOC_TRIM_THRESHOLD_ (see LOCAL_DASK_CONFIG).
NANNY_PRE_SPAWN_ENVIRON = {"MALLOC_TRIM_THRESHOLD_": None}
#: Dask settings of a local cluster: no statistical profiler in the workers (it
#: samples the computing thread every 10 ms), a 1 s event-loop tick (20 ms by
#: default) in every process, the nannies' memory check every 1 s (100 ms) and
#: the system monitor every 2 s (500 ms). On 2 cores these background callbacks
#: cost the driver and workers about 1.5 CPU-s per 10 s of sweep with Dask's
#: defaults (bench/engine.py); the last two halve what is left of it at idle
#: (driver 1.5 -> 0.8 %, each worker 0.7 -> 0.3 % of a core). And no
#: MALLOC_TRIM_THRESHOLD_ in the workers' environment (the nanny sets 65536 by
#: default, None unsets it): with it glibc gives every freed large array back to
#: the OS at once, and the TAP kernel's temporaries then page-fault 4x as often
#: (82,000 -> 349,000 minor faults, 1.6-7 % more CPU on the bench/engine.py
#: tasks). Worker memory here is a few pattern matrices, so there is nothing to trim.
LOCAL_DASK_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    **{f"distributed.nanny.pre-spawn-environ.{name}": value
       for name, value in NANNY_PRE_SPAWN_ENVIRON.items()},
}

class ClusterUnavailable(RuntimeError):
    """The cluster could not be started or reached (nothing was computed)."""


def _security(cluster_spec: ClusterSpec) -> distributed.Security | None:
    if not cluster_spec.tls:
        return None
    from distributed import Security

    tls = cluster_spec.tls
    return Security(require_encryption=True, tls_ca_file=tls["ca"],
                    tls_client_cert=tls["cert"], tls_client_key=tls["key"])


@contextlib.contextmanager
def connect(cluster_spec: ClusterSpec) -> Iterator[distributed.Client]:
    """A client of the cluster described by ``cluster_spec``.

    Parameters
    ----------
    cluster_spec : ClusterSpec
        ``kind = "local"``: a LocalCluster of ``workers`` processes with
        ``threads_per_worker`` threads, on 127.0.0.1, dashboard at
        ``dashboard_address``. ``"address"``: the scheduler at ``address``
        (TLS when ``tls`` is set). ``"slurm"`` / ``"pbs"``: a dask-jobqueue
        cluster (sweep.jobqueue.make_cluster) scaled adaptively.

    Yields
    ------
    distributed.Client
    """
    import dask
    from distributed import Client, LocalCluster

    kind = cluster_spec.kind
    if kind == "address":
        try:
            # waits distributed.comm.timeouts.connect (dask config, 30 s by default)
            client = Client(cluster_spec.address, security=_security(cluster_spec))
        except OSError as err:
            raise ClusterUnavailable(
                f"cannot reach the Dask scheduler at {cluster_spec.address} ({err}); is it "
                "running? (check --scheduler / cluster.address and [cluster.tls])"
            ) from err
        with client:
            yield client
        return
    try:
        if kind == "local":
            # the nannies hand this configuration to the worker processes they start
            with dask.config.set(LOCAL_DASK_CONFIG):
                cluster = LocalCluster(
                    n_workers=cluster_spec.workers,
                    threads_per_worker=cluster_spec.threads_per_worker,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=cluster_spec.dashboard_address,
                    env=dict(WORKER_ENVIRONMENT),
                )
        else:
            from .jobqueue import make_cluster

            cluster = make_cluster(cluster_spec)
            cluster.adapt(**cluster_spec.adapt)
    except OSError as err:
        raise ClusterUnavailable(
            f"cannot start the {kind} cluster ({err}); check [cluster] (e.g. "
            "dashboard_address, jobqueue settings)"
        ) from err
    with cluster, Client(cluster) as client:
        yield client
