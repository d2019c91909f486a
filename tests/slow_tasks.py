"""Stretch every sweep task by a sleep, so fault tests have time to strike.

Loaded into Dask workers as a preload (``DASK_DISTRIBUTED__WORKER__PRELOAD``,
which Slurm worker jobs inherit from the driver's environment) or imported
before the CLI in a shard process (:data:`SHARD_COMMAND`). It wraps
``sweep.tasks.run_task``: the real computation still runs, after sleeping
``HOPSWEEP_TEST_TASK_DELAY`` seconds. A sleep costs no CPU, so sweeps last
seconds without loading the shared 2-core machine, whatever the kernels' speed.
The driver pickles ``run_task`` by name, so workers run the wrapped one.
"""

from __future__ import annotations

import functools
import os
import time

import sweep.tasks

#: Environment variable holding the delay per task, seconds.
DELAY_VARIABLE = "HOPSWEEP_TEST_TASK_DELAY"

#: The real task. Dask may import a preload file more than once (re-executing this
#: module in the same namespace): unwrap, so the wrapper never wraps itself.
_compute = getattr(sweep.tasks.run_task, "__wrapped__", sweep.tasks.run_task)


@functools.wraps(_compute)
def run_task(*args, **kwargs):
    time.sleep(float(os.environ.get(DELAY_VARIABLE, "0")))
    return _compute(*args, **kwargs)


sweep.tasks.run_task = run_task
