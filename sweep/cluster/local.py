"""A LocalCluster on this machine: worker processes of one BLAS and one Numba thread each."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .environment import LOCAL_DASK_CONFIG, NANNY_PRE_SPAWN_ENVIRON, WORKER_ENVIRONMENT

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
    with dask.config.set(LOCAL_DASK_CONFIG), _unset_while_spawning():
        return LocalCluster(
            n_workers=cluster_spec.workers,
            threads_per_worker=cluster_spec.threads_per_worker,
            processes=True,
            host="127.0.0.1",
            dashboard_address=cluster_spec.dashboard_address,
            env=dict(WORKER_ENVIRONMENT),
        )


@contextlib.contextmanager
def _unset_while_spawning() -> Iterator[None]:
    """Remove the variables :data:`NANNY_PRE_SPAWN_ENVIRON` unsets from this process's
    environment while the workers are spawned, then put them back.

    A nanny runs in this process and exports its pre-spawn variables here, so any
    earlier Dask cluster of the session (a notebook's own LocalCluster, say) leaves
    MALLOC_TRIM_THRESHOLD_ behind, and the new workers would inherit it.
    """
    names = [name for name, value in NANNY_PRE_SPAWN_ENVIRON.items() if value is None]
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)
