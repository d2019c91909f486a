"""The environment of worker processes and the Dask settings of the clusters hopsweep starts.

Shared by local clusters (:mod:`sweep.cluster`) and batch worker jobs
(:mod:`sweep.cluster.jobqueue`, which exports the same variables in its job scripts).
"""

from __future__ import annotations

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
