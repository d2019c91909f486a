"""A LocalCluster on this machine: worker processes of one BLAS and one Numba thread each."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .environment import LOCAL_DASK_CONFIG, WORKER_ENVIRONMENT

if TYPE_CHECKING:
    import distributed

    from ..spec import ClusterSpec


def make_cluster(cluster_spec: ClusterSpec) -> distributed.LocalCluster:
    """``workers`` processes of ``threads_per_worker`` threads on 127.0.0.1, the
    dashboard at ``dashboard_address``, with :data:`LOCAL_DASK_CONFIG` and the
    workers' :data:`WORKER_ENVIRONMENT`."""
    import dask
    from distributed import LocalCluster

    # the nannies hand this configuration to the worker processes they start
    with dask.config.set(LOCAL_DASK_CONFIG):
        return LocalCluster(
            n_workers=cluster_spec.workers,
            threads_per_worker=cluster_spec.threads_per_worker,
            processes=True,
            host="127.0.0.1",
            dashboard_address=cluster_spec.dashboard_address,
            env=dict(WORKER_ENVIRONMENT),
        )
