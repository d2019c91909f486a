"""Batch clusters: generated Slurm / PBS job scripts, and real sweeps on a real Slurm.

The job-script tests need no batch system (PBS cannot be installed here, so its
script is only checked). The ``slurm``-marked tests run ``hopsweep`` against the
single-node Slurm started by ``../shared/slurm/start-slurm.sh``; without it they
skip with the reason, and under ``CI=true`` they fail.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import dask.config
import pytest
from cluster_helpers import (
    COMMAND_TIMEOUT,
    TINY,
    JobWatcher,
    assert_same_results,
    env,
    hopsweep,
    require_slurm,
    slurm_cluster,
    write_config,
)

from sweep.cluster import jobqueue

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SHARD_JOB_NAME = "hopsweep-shard"
DRIVER_JOB_NAME = "hopsweep-driver"

JOBQUEUE_TABLE = {
    "cores": 2,
    "memory": "2GB",
    "processes": 1,
    "walltime": "01:00:00",
    "queue": "debug",
    "account": "myproject",
    "job_directives": ["--qos=normal"],
    "prologue": ["module load python"],
    "local_directory": "/scratch/hopsweep",
    "interface": "lo",
    "lifetime_margin": "5m",
    "lifetime_stagger": "2m",
}


def spec(kind: str, **jobqueue_table) -> dict:
    return {"kind": kind, "workers": 3, "jobqueue": {**JOBQUEUE_TABLE, **jobqueue_table}}


def test_slurm_job_script_carries_every_key():
    script = jobqueue.job_script(spec("slurm"))
    lines = script.splitlines()
    for directive in [
        "-J hopsweep-worker",
        "-p debug",
        "-A myproject",
        "--cpus-per-task=2",
        "-t 01:00:00",
        "--qos=normal",
    ]:
        assert f"#SBATCH {directive}" in lines, (directive, script)
    # The prologue runs before the worker command, after the thread-limiting exports.
    worker_line = next(line for line in lines if "distributed.cli.dask_worker" in line)
    assert lines.index("module load python") < lines.index(worker_line)
    assert lines.index("export NUMBA_NUM_THREADS=1") < lines.index("module load python")
    # walltime 3600 s - margin 300 s = lifetime 3300 s, staggered by 120 s.
    assert "--lifetime 3300s --lifetime-stagger 120s" in worker_line
    assert worker_line.startswith(sys.executable + " ")
    assert "--local-directory /scratch/hopsweep" in worker_line
    assert "--interface lo" in worker_line
    assert "--nthreads 2" in worker_line


def test_worker_jobs_unset_the_nanny_malloc_trim_threshold():
    # the export line of the job script, run by bash, reaches the nanny's configuration
    script = jobqueue.job_script(spec("slurm"))
    (export,) = [line for line in script.splitlines() if "PRE_SPAWN_ENVIRON" in line]
    probe = ("from distributed.nanny import _get_env_variables; "
             "print(*sorted(_get_env_variables('distributed.nanny.pre-spawn-environ')))")
    done = subprocess.run(["bash", "-c", f"{export}; {sys.executable} -c \"{probe}\""],
                          capture_output=True, text=True, check=True,
                          env={k: v for k, v in os.environ.items() if not k.startswith("DASK_")})
    assert done.stdout.split() == ["MKL_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"]


def test_pbs_job_script_carries_every_key():
    script = jobqueue.job_script(spec("pbs", python="/opt/env/bin/python"))
    lines = script.splitlines()
    for directive in [
        "-N hopsweep-worker",
        "-q debug",
        "-A myproject",
        "-l walltime=01:00:00",
        "--qos=normal",
    ]:
        assert f"#PBS {directive}" in lines, (directive, script)
    assert any(line.startswith("#PBS -l select=1:ncpus=2:mem=") for line in lines), script
    worker_line = next(line for line in lines if "distributed.cli.dask_worker" in line)
    assert worker_line.startswith("/opt/env/bin/python -m distributed.cli.dask_worker")
    assert "--lifetime 3300s --lifetime-stagger 120s" in worker_line


def test_missing_keys_fall_back_to_dask_jobqueue_config():
    """Site defaults come from dask's jobqueue config (~/.config/dask/jobqueue.yaml)."""
    table = {"cores": 1, "memory": "1GB"}
    site = {
        "jobqueue.slurm.walltime": "02:00:00",
        "jobqueue.slurm.queue": "site-queue",
        "jobqueue.slurm.python": "/site/env/bin/python",
    }
    with dask.config.set(site):
        script = jobqueue.job_script({"kind": "slurm", "jobqueue": table})
    assert "#SBATCH -p site-queue" in script.splitlines()
    assert "/site/env/bin/python -m distributed.cli.dask_worker" in script
    assert "#SBATCH -t 02:00:00" in script.splitlines()
    # 7200 s - default margin 5 min = 6900 s, default stagger 2 min.
    assert "--lifetime 6900s --lifetime-stagger 120s" in script


def test_dry_run_prints_the_worker_job_script(tmp_path):
    """`hopsweep run --dry-run` on the Slurm example shows the job and writes nothing."""
    result = hopsweep("run", str(DEPLOY / "slurm" / "sweep.toml"), "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "#SBATCH -J hopsweep-worker" in lines
    assert "#SBATCH -t 02:00:00" in lines
    assert any("--lifetime 6600s --lifetime-stagger 120s" in line for line in lines)
    assert list(tmp_path.iterdir()) == []


def test_site_defaults_are_there_in_a_fresh_process():
    """dask-jobqueue's defaults (walltime 00:30:00) are registered by sweep.jobqueue itself."""
    program = (
        "from sweep.cluster.jobqueue import job_script; "
        "print(job_script({'kind': 'slurm', 'jobqueue': {'cores': 1, 'memory': '1GB'}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        env=env(),
        timeout=COMMAND_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    assert "#SBATCH -t 00:30:00" in result.stdout
    assert "--lifetime 1500s" in result.stdout  # 30 min - 5 min default margin


@pytest.mark.parametrize(
    ("walltime", "expected"),
    [("00:10:00", 600.0), ("1-00:00:30", 86430.0), ("36:00:00", 129600.0)],
)
def test_walltime_seconds(walltime, expected):
    assert jobqueue.walltime_seconds(walltime) == expected


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"walltime": "1h"}, "walltime"),
        ({"lifetime_margin": "1m", "lifetime_stagger": "2m"}, "lifetime_margin"),
        ({"walltime": "00:06:00"}, "lifetime_margin"),  # 6 min - 5 min leaves 1 min < 2 min
        ({"lifetime_stagger": "soon"}, "lifetime_stagger"),
        ({"nodes": 2}, "nodes"),
    ],
)
def test_bad_jobqueue_values_name_the_key(table, key):
    with pytest.raises(ValueError, match=rf"cluster\.jobqueue\.{key}"):
        jobqueue.job_script(spec("slurm", **table))


def test_bad_kind_names_the_key():
    with pytest.raises(ValueError, match=r"cluster\.kind"):
        jobqueue.job_kwargs({"kind": "local", "jobqueue": {}})


def external_ipv4() -> str | None:
    """This machine's outbound IPv4 address (no packet is sent), None if only loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def test_batch_scheduler_and_dashboard_listen_on_localhost_by_default():
    """No interface configured: 127.0.0.1 only, with a warning naming the key to set."""
    cluster_table = {
        "kind": "slurm",
        "dashboard_address": "127.0.0.1:0",
        "jobqueue": {"cores": 1, "memory": "1GB", "walltime": "00:10:00"},
    }
    with pytest.warns(UserWarning, match=r"cluster\.jobqueue\.interface"):
        cluster = jobqueue.make_cluster(cluster_table)  # no job is submitted
    with cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:"), address
        ports = [int(address.rsplit(":", 1)[1]), cluster.scheduler.http_server.port]
        assert all(accepts("127.0.0.1", port) for port in ports)
        outside = external_ipv4()
        if outside is not None:  # reachable from the network: must be refused there
            assert not any(accepts(outside, port) for port in ports), outside
        assert f"distributed.cli.dask_worker {address}" in cluster.job_script()


def test_adapt_counts_worker_jobs_and_targets_full_scale():
    """[cluster.adapt] bounds are worker jobs; the 1 s target duration lets adapt reach
    the maximum when the runner keeps only ~2 tasks per worker in flight."""
    cluster_table = {
        "kind": "slurm",
        "jobqueue": {"cores": 2, "processes": 2, "memory": "1GB", "interface": "lo"},
    }
    with jobqueue.make_cluster(cluster_table) as cluster:
        adaptive = cluster.adapt(minimum=0, maximum=3)  # no task, so no job is submitted
        assert (adaptive.minimum, adaptive.maximum) == (0, 6)  # 2 worker processes per job
        assert adaptive.target_duration == 1.0
        adaptive.stop()


def test_configured_interface_or_site_host_is_respected():
    table = {"kind": "slurm", "dashboard_address": ":8787", "jobqueue": {"interface": "ib0"}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        options = jobqueue.scheduler_options(table)
        assert options == {"dashboard_address": ":8787"}  # dask-jobqueue binds to ib0
        site = {"jobqueue.slurm.scheduler-options": {"host": "10.0.0.1", "port": 8786}}
        with dask.config.set(site):
            options = jobqueue.scheduler_options({"kind": "slurm", "jobqueue": {}})
    assert options == {"host": "10.0.0.1", "port": 8786}


# --------------------------------------------------------------------- real Slurm


@pytest.mark.parametrize("ci", ["true", ""])
def test_missing_slurm_skips_with_a_reason_but_fails_under_ci(tmp_path, monkeypatch, ci):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sinfo on this PATH
    monkeypatch.setenv("CI", ci)
    outcome = pytest.fail.Exception if ci == "true" else pytest.skip.Exception
    with pytest.raises(outcome, match="`sinfo` not found"):
        require_slurm()


def submit(recipe: str, config: Path, store: Path, options: tuple[str, ...] = ()) -> str:
    """``sbatch`` deploy/slurm/RECIPE CONFIG --store STORE from the config's directory.

    The recipe runs the test's python as HOPSWEEP; returns the job id.
    """
    script = DEPLOY / "slurm" / recipe
    result = subprocess.run(
        ["sbatch", "--parsable", *options, str(script), str(config), "--store", str(store)],
        env={**env(), "HOPSWEEP": f"{sys.executable} -m sweep"},
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().split(";")[0]


def exit_code(job_id: str) -> str:
    """``ExitCode`` of a finished job (kept by slurmctld for MinJobAge = 60 s)."""
    out = subprocess.run(
        ["scontrol", "show", "job", job_id], capture_output=True, text=True, timeout=COMMAND_TIMEOUT
    ).stdout
    return out.split("ExitCode=")[1].split()[0]


@pytest.mark.slurm
def test_driver_recipe_with_slurm_worker_jobs_matches_the_local_run(slurm, tmp_path):
    """deploy/slurm/driver.sbatch runs `hopsweep run` (kind = "slurm") as a batch job;
    the driver submits dask-jobqueue worker jobs from inside its own job."""
    config = write_config(tmp_path, TINY, slurm_cluster())
    store = tmp_path / "tiny.zarr"
    workers = JobWatcher(jobqueue.JOB_NAME)
    driver_id = submit("driver.sbatch", config, store, options=(f"--output={tmp_path}/driver.out",))
    driver = JobWatcher(DRIVER_JOB_NAME)
    deadline = time.monotonic() + COMMAND_TIMEOUT
    while any(job == driver_id for job, _ in driver.poll()):
        assert time.monotonic() < deadline, "driver job still running"
        workers.poll()
        time.sleep(0.2)
    log = (tmp_path / "driver.out").read_text()
    assert exit_code(driver_id) == "0:0", log
    assert driver_id in driver.running
    assert workers.running, "no worker job was ever seen running in squeue"
    assert "dashboard http://127.0.0.1:" in log, "dashboard must listen on localhost"
    assert_same_results(store, TINY)
    workers.wait_gone()  # the driver cancels its worker jobs on exit


@pytest.mark.slurm
def test_job_array_of_shards_matches_the_local_run(slurm, tmp_path):
    """deploy/slurm/array.sbatch submitted with sbatch --array=0-3."""
    config = write_config(tmp_path, TINY)
    store = tmp_path / "tiny.zarr"
    array_id = submit(
        "array.sbatch", config, store, options=("--array=0-3", f"--output={tmp_path}/shard-%a.out")
    )
    watcher = JobWatcher(SHARD_JOB_NAME)
    watcher.wait_gone(timeout=COMMAND_TIMEOUT)
    assert any(job.startswith(f"{array_id}_") for job in watcher.running), watcher.running
    for index in range(4):
        out = (tmp_path / f"shard-{index}.out").read_text()
        assert f"shard {index}/4: 2 of 8 tasks to compute" in out, out
        assert f"shard {index}/4: 2 tasks done, 0 failed" in out, out
    assert_same_results(store, TINY)
