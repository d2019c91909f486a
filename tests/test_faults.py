"""Faults beyond one machine: nothing is lost, every point ends done.

- SIGKILL of a ``dask worker`` process while it runs a task;
- workers whose ``--lifetime`` is shorter than the sweep (they retire and restart);
- ``scancel`` of every Slurm worker job mid-sweep (adaptive scaling replaces them);
- Slurm worker jobs retiring at ``--lifetime`` = walltime - margin, replaced by adapt;
- SIGKILL of a ``hopsweep run`` driver using Slurm workers, then a rerun resumes.

(Killed shards are in test_shard.py, the local-cluster driver kill in test_cli.py.)
Each sweep must end equal to the local run of the same config (assert_same_results).
Workers sleep before each task (slow_env, tests/slow_tasks.py) so the faults
strike mid-sweep however fast the kernels are, without loading the CPU.
"""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cluster_helpers import (
    COMMAND_TIMEOUT,
    LONG,
    SLOW_TASK_SECONDS,
    DaskProcesses,
    JobWatcher,
    assert_same_results,
    done_fraction,
    hopsweep,
    hopsweep_popen,
    run_args,
    slow_env,
    slurm_cluster,
    wait_for_progress,
    write_config,
)

from sweep.cluster.jobqueue import JOB_NAME

#: Worker lifetime for the retirement test: at most 4 s with the stagger, well
#: under the sweep (about 8 s on two workers with LIFETIME_TASK_DELAY), longer than
#: a worker start (about a second).
LIFETIME = ("--lifetime", "3s", "--lifetime-stagger", "1s", "--lifetime-restart")
#: Task delay of the retirement test, s: with the default 0.2 s the sweep took
#: about 4 s, as long as the longest staggered lifetime, and could end first.
LIFETIME_TASK_DELAY = 0.4

#: Seconds an orphaned worker job waits for its lost scheduler before exiting.
DEATH_TIMEOUT_SECONDS = 5

#: Seconds to wait for a worker to pick up a task.
BUSY_TIMEOUT = 60.0


def start_slurm_driver(
    config: Path, store: Path, log: Path, task_delay: float = SLOW_TASK_SECONDS
) -> subprocess.Popen:
    """Start ``hopsweep run CONFIG --store STORE`` in the config's directory, output to ``log``.

    Every task of its (Slurm) workers first sleeps ``task_delay`` s (:func:`slow_env`).
    """
    return hopsweep_popen(
        *run_args(config, store), cwd=config.parent, log=log, extra_env=slow_env(task_delay)
    )


def busy_worker_pid(processes: DaskProcesses) -> tuple[int, str]:
    """(pid, address) of a worker process that is running a task right now."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    with processes.client() as client:
        while time.monotonic() < deadline:
            processing = {w: keys for w, keys in client.processing().items() if keys}
            if processing:
                address = next(iter(processing))
                pid = client.run(os.getpid, workers=[address])[address]
                return pid, address
            time.sleep(0.02)
    raise AssertionError(f"no worker was busy within {BUSY_TIMEOUT:g} s")


def test_sigkill_of_a_busy_worker_process_loses_nothing(tmp_path):
    config = write_config(tmp_path, LONG)
    store = tmp_path / "long.zarr"
    with DaskProcesses(tmp_path / "dask", extra_env=slow_env()) as processes:
        driver = hopsweep_popen(
            *run_args(config, store, "--scheduler", processes.address),
            cwd=tmp_path,
            log=tmp_path / "run.log",
        )
        wait_for_progress(store, driver)
        pid, address = busy_worker_pid(processes)
        os.kill(pid, signal.SIGKILL)
        before = done_fraction(store)
        code = driver.wait(timeout=COMMAND_TIMEOUT)
        log = (tmp_path / "run.log").read_text()
        assert code == 0, log + processes.log("scheduler.log")
        # The scheduler saw the busy worker die (its nanny started a fresh one).
        assert f"Remove worker addr: {address}" in processes.log("scheduler.log")
    assert before < 1.0, "the sweep was over before the kill"
    assert_same_results(store, LONG)


def test_a_worker_retiring_at_its_lifetime_loses_nothing(tmp_path):
    """One worker lives 3-4 s (then its nanny restarts it), shorter than the sweep."""
    config = write_config(tmp_path, LONG)
    store = tmp_path / "long.zarr"
    with DaskProcesses(tmp_path / "dask", n_workers=1,
                       extra_env=slow_env(LIFETIME_TASK_DELAY)) as processes:
        processes.add_worker("mortal", LIFETIME)
        processes.wait_for_workers(2)
        result = hopsweep(*run_args(config, store, "--scheduler", processes.address), cwd=tmp_path)
        ended = datetime.datetime.now()
        # the whole log: processes.log() keeps only its tail (for messages), from
        # which a worker restarted twice pushes the first retirement out
        log = (processes.directory / "worker-mortal.log").read_text(errors="replace")
    assert result.returncode == 0, result.stderr
    retired = [line for line in log.splitlines() if "Reason: worker-lifetime-reached" in line]
    assert retired, "the worker never reached its lifetime"
    when = datetime.datetime.strptime(retired[0][:23], "%Y-%m-%d %H:%M:%S,%f")
    assert when < ended, "the worker retired only after the sweep"
    assert_same_results(store, LONG)


@pytest.mark.slurm
def test_scancel_of_every_worker_job_mid_sweep_loses_nothing(slurm, tmp_path):
    """Adapt replaces cancelled worker jobs after the lost-worker timeout (1 s here)."""
    config = write_config(tmp_path, LONG, slurm_cluster())
    store = tmp_path / "long.zarr"
    watcher = JobWatcher(JOB_NAME)
    driver = start_slurm_driver(config, store, tmp_path / "run.log")
    wait_for_progress(store, driver, timeout=COMMAND_TIMEOUT)
    cancelled = {job for job, state in watcher.poll() if state == "RUNNING"}
    assert cancelled, "no worker job running while points were being computed"
    subprocess.run(["scancel", *sorted(cancelled)], check=True, timeout=30)
    before = done_fraction(store)
    code = watcher.wait_while(driver)
    assert code == 0, (tmp_path / "run.log").read_text()
    assert before < 1.0
    replacements = watcher.running - cancelled
    assert replacements, "the sweep finished without any replacement worker job"
    assert_same_results(store, LONG)


#: Walltime of the retirement test's worker jobs, and the margin that makes their
#: lifetime 12 +/- 2 s: shorter than the sweep, well above the 1 s lost-worker timeout.
SHORT_WALLTIME = ("00:01:00", "48s", "2s")

#: Task delay of the retirement test: 40 tasks x 0.8 s on two workers, 16 s.
RETIREMENT_TASK_SECONDS = 0.8


@pytest.mark.slurm
def test_worker_jobs_retire_before_walltime_and_are_replaced(slurm, tmp_path):
    """Worker jobs end at their --lifetime (walltime - margin); adapt submits new ones."""
    walltime, margin, stagger = SHORT_WALLTIME
    config = write_config(tmp_path, LONG, slurm_cluster(walltime, margin, stagger))
    store = tmp_path / "long.zarr"
    watcher = JobWatcher(JOB_NAME)
    driver = start_slurm_driver(config, store, tmp_path / "run.log", RETIREMENT_TASK_SECONDS)
    code = watcher.wait_while(driver)
    assert code == 0, (tmp_path / "run.log").read_text()
    job_logs = {path.name: path.read_text() for path in tmp_path.glob("slurm-*.out")}
    retired = [name for name, text in job_logs.items() if "worker-lifetime-reached" in text]
    assert retired, f"no worker job reached its lifetime: {sorted(job_logs)}"
    assert len(watcher.running) > 2, f"retired jobs were not replaced: {watcher.running}"
    assert_same_results(store, LONG)


@pytest.mark.slurm
def test_killed_slurm_driver_resumes_on_rerun(slurm, tmp_path, monkeypatch):
    """SIGKILL the driver: its worker jobs exit on their own, a rerun computes the rest."""
    monkeypatch.setenv("DASK_JOBQUEUE__SLURM__DEATH_TIMEOUT", str(DEATH_TIMEOUT_SECONDS))
    config = write_config(tmp_path, LONG, slurm_cluster())
    store = tmp_path / "long.zarr"
    watcher = JobWatcher(JOB_NAME)
    driver = start_slurm_driver(config, store, tmp_path / "first.log")
    try:
        wait_for_progress(store, driver, timeout=COMMAND_TIMEOUT)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=COMMAND_TIMEOUT)
    orphans = {job for job, _ in watcher.poll()}
    partial = done_fraction(store)
    assert 0.0 < partial < 1.0
    # Orphaned workers lose their scheduler and end their jobs after the death timeout.
    watcher.wait_gone(orphans, timeout=COMMAND_TIMEOUT)
    rerun = hopsweep_popen(*run_args(config, store), cwd=tmp_path, log=tmp_path / "second.log")
    code = watcher.wait_while(rerun)
    log = (tmp_path / "second.log").read_text()
    assert code == 0, log
    computed = int(log.split("computed ")[1].split(" points")[0])
    total = int(log.split("tasks, ")[1].split(" points")[0])
    assert 0 < computed < total, log  # only what the killed driver left pending
    assert_same_results(store, LONG)
