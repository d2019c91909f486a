"""The real ``hopsweep`` command in subprocesses: runs, resumes, faults, refusals, signals.

Every finished store is compared point for point with a plain, uninterrupted
two-worker run of the same config (the ``assert_identical`` fixture): the solvers
are deterministic float64 code with one BLAS thread, so equality is exact and any
difference is a lost, duplicated or misplaced result. ``wall_time`` is compared
only where a point must NOT have been recomputed (it then keeps its old value).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import psutil
import pytest
import zarr
from cluster_helpers import (
    env,
    hopsweep,
    hopsweep_popen,
    run_args,
    wait_for_progress,
    write_config,
)

from kernels.status import FAILED, PENDING
from sweep.config import load_spec
from sweep.plan import make_plan

#: Seconds a signalled or killed hopsweep process may take to end.
EXIT_TIMEOUT = 60


def _read(store, name):
    return zarr.open_group(str(store), mode="r", use_consolidated=False)[name][...]


def _workers(pid: int) -> list[psutil.Process]:
    """Dask worker processes started by the driver ``pid`` (multiprocessing spawn)."""
    return [p for p in psutil.Process(pid).children(recursive=True)
            if "spawn_main" in " ".join(p.cmdline())]


def start_two_worker_run(config: Path, store: Path, log: Path) -> subprocess.Popen:
    """Start ``hopsweep run CONFIG --store STORE --workers 2`` and wait for its first results.

    The process runs in its own session with its output in ``log``; this returns once
    some, not all, points of ``store`` are done (:func:`wait_for_progress`).
    """
    run = hopsweep_popen(*run_args(config, store, "--workers", "2"), cwd=config.parent, log=log)
    wait_for_progress(store, run)
    return run


def test_help_is_light_and_lists_the_commands():
    """--help imports no Dask, xarray or Zarr (heavy imports live inside commands)."""
    heavy = "('dask', 'distributed', 'xarray', 'zarr')"
    code = ("import sys, sweep.cli; sweep.cli.build_parser(); "
            f"print(sorted(m for m in {heavy} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env())
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
    console = shutil.which("hopsweep")
    assert console is not None, "console script `hopsweep` not installed (pip install -e .)"
    shown = subprocess.run([console, "--help"], capture_output=True, text=True, env=env())
    assert shown.returncode == 0
    for command in ("run", "status", "plot", "shard", "theory"):
        assert command in shown.stdout


def test_dry_run_writes_nothing(tmp_path, small_sweep):
    config = write_config(tmp_path, small_sweep)
    done = hopsweep("run", str(config), "--dry-run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "points    120 = algorithm 1 x N 2 x alpha 4 x seed 3 x T 5" in done.stdout
    assert "tasks     8 (3 seeds per task)" in done.stdout
    assert "nothing written" in done.stdout
    batch = write_config(tmp_path, small_sweep, '[cluster.jobqueue]\ncores = 1\nmemory = "1GB"\n',
                         name="batch.toml")
    slurm = hopsweep("run", str(batch), "--dry-run", "--cluster", "slurm", cwd=tmp_path)
    assert slurm.returncode == 0, slurm.stderr
    assert "#SBATCH" in slurm.stdout  # the worker job script that would be submitted
    assert sorted(p.name for p in tmp_path.iterdir()) == ["batch.toml", "sweep.toml"]


def test_one_worker_gives_the_two_worker_results(tmp_path, small_sweep, assert_identical):
    config = write_config(tmp_path, small_sweep)
    done = hopsweep("run", str(config), "--workers", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "computed 120 points, 0 failed" in done.stderr
    assert "dashboard http://127.0.0.1:" in done.stderr
    store = tmp_path / "results" / "small.zarr"  # the default store path
    assert_identical(store, small_sweep)
    again = hopsweep("run", str(config), "--workers", "1", cwd=tmp_path)
    assert again.returncode == 0 and "nothing to compute" in again.stderr, again.stderr
    status = hopsweep("status", str(store), cwd=tmp_path)
    assert status.returncode == 0
    assert "done      120/120 (100.0%)" in status.stdout, status.stdout
    plot = hopsweep("plot", str(store), cwd=tmp_path)  # default: next to the store
    assert plot.returncode == 0, plot.stderr
    assert (store.parent / "small.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = hopsweep("plot", str(store), "-o", str(tmp_path / "o.svg"), "--kind", "overlap",
                   cwd=tmp_path)
    assert svg.returncode == 0, svg.stderr
    assert "<svg" in (tmp_path / "o.svg").read_text()
    basins = hopsweep("plot", str(store), "-o", str(tmp_path / "b.svg"), "--kind", "basins",
                      cwd=tmp_path)
    assert basins.returncode == 0, basins.stderr
    drawn = (tmp_path / "b.svg").read_text()
    assert "<svg" in drawn and len(drawn) > 10_000  # panels, colour bar, legend


def test_changed_spec_is_refused_unless_overwrite(tmp_path, small_sweep):
    config = write_config(tmp_path, small_sweep)
    store = tmp_path / "s.zarr"
    assert hopsweep("run", str(config), "--store", str(store), cwd=tmp_path).returncode == 0
    first_hash = zarr.open_group(str(store), mode="r").attrs["spec_hash"]
    changed = write_config(tmp_path, small_sweep.replace("max_iter = 300", "max_iter = 301"),
                           name="changed.toml")
    refused = hopsweep("run", str(changed), "--store", str(store), cwd=tmp_path)
    assert refused.returncode == 2
    assert "holds another spec" in refused.stderr and "--overwrite" in refused.stderr
    assert "differs in solver.max_iter)" in refused.stderr  # the key that changed
    assert zarr.open_group(str(store), mode="r").attrs["spec_hash"] == first_hash
    replaced = hopsweep("run", str(changed), "--store", str(store), "--overwrite", cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    assert zarr.open_group(str(store), mode="r").attrs["spec_hash"] == load_spec(changed).hash
    assert "computed 120 points" in replaced.stderr


def test_failing_task_is_recorded_and_retry_failed_recomputes_only_it(tmp_path, small_sweep,
                                                                    assert_identical):
    """HOPSWEEP_FAULT makes every task at alpha = 0.08 raise inside the worker."""
    config = write_config(tmp_path, small_sweep)
    store = tmp_path / "s.zarr"
    faulty = {**env(), "HOPSWEEP_FAULT": "alpha=0.08"}
    run = subprocess.run([sys.executable, "-m", "sweep", "run", str(config), "--store",
                          str(store)], cwd=tmp_path, env=faulty, capture_output=True, text=True,
                         timeout=240)
    assert run.returncode == 1, run.stderr
    assert "--retry-failed" in run.stderr
    status = _read(store, "status")
    alpha = _read(store, "alpha")
    at_fault = np.isclose(alpha, 0.08)
    assert (status[:, :, at_fault] == FAILED).all()
    assert ((status[:, :, ~at_fault] != FAILED) & (status[:, :, ~at_fault] != PENDING)).all()
    errors = _read(store, "error")
    assert (errors[:, :, at_fault] == "InjectedFault: fault injected by "
            "HOPSWEEP_FAULT=alpha=0.08").all()
    assert (errors[:, :, ~at_fault] == "").all()
    shown = hopsweep("status", str(store), cwd=tmp_path)
    # 30 failed points = 6 disorder samples (2 N x 3 seeds) over 5 temperatures
    assert re.search(r"^failed\s+30\b", shown.stdout, re.M), shown.stdout
    assert "6 x InjectedFault: fault injected by HOPSWEEP_FAULT=alpha=0.08" in shown.stdout
    # Without --retry-failed nothing is recomputed and the failure still shows in the exit code.
    plain = hopsweep("run", str(config), "--store", str(store), cwd=tmp_path)
    assert plain.returncode == 1 and "nothing to compute" in plain.stderr
    wall_before = _read(store, "wall_time")
    retry = hopsweep("run", str(config), "--store", str(store), "--retry-failed", cwd=tmp_path)
    assert retry.returncode == 0, retry.stderr
    assert "computed 30 points, 0 failed" in retry.stderr
    wall_after = _read(store, "wall_time")
    np.testing.assert_array_equal(wall_after[:, :, ~at_fault], wall_before[:, :, ~at_fault])
    assert_identical(store, small_sweep)


def test_many_identical_failures_stop_the_sweep(tmp_path, long_sweep):
    config = write_config(tmp_path, long_sweep)
    store = tmp_path / "s.zarr"
    n_tasks = make_plan(load_spec(config)).n_tasks
    faulty = {**env(), "HOPSWEEP_FAULT": "algorithm=tap"}
    run = subprocess.run([sys.executable, "-m", "sweep", "run", str(config), "--store",
                          str(store), "--workers", "2"], cwd=tmp_path, env=faulty,
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 1
    assert "stopping: 20 tasks failed with the same error: InjectedFault" in run.stderr
    status = _read(store, "status")
    assert n_tasks == 48
    assert (status == PENDING).any(), "the sweep should have stopped before the end"
    assert set(np.unique(status)) == {PENDING, FAILED}


def test_driver_killed_midway_resumes_only_the_missing_points(tmp_path, long_sweep,
                                                            assert_identical):
    config = write_config(tmp_path, long_sweep)
    store = tmp_path / "s.zarr"
    first = start_two_worker_run(config, store, tmp_path / "first.log")
    os.killpg(first.pid, signal.SIGKILL)  # driver and its workers: its own session
    first.wait(timeout=EXIT_TIMEOUT)
    status = _read(store, "status")
    wall = _read(store, "wall_time")
    missing = int((status == PENDING).sum())
    assert 0 < missing < status.size
    rerun = hopsweep("run", str(config), "--store", str(store), "--workers", "2", cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr  # the killed run left no stale lock
    assert f"computed {missing} points, 0 failed" in rerun.stderr, rerun.stderr
    kept = status != PENDING
    np.testing.assert_array_equal(_read(store, "wall_time")[kept], wall[kept])
    assert_identical(store, long_sweep)


def test_worker_killed_midway_loses_no_point(tmp_path, long_sweep, assert_identical):
    config = write_config(tmp_path, long_sweep)
    store = tmp_path / "s.zarr"
    run = start_two_worker_run(config, store, tmp_path / "run.log")
    victims = _workers(run.pid)
    assert len(victims) == 2, victims
    victims[0].kill()
    assert run.wait(timeout=240) == 0, (tmp_path / "run.log").read_text()
    assert_identical(store, long_sweep)


def test_second_run_is_refused_and_ctrl_c_stops_cleanly(tmp_path, long_sweep, assert_identical):
    config = write_config(tmp_path, long_sweep)
    store = tmp_path / "s.zarr"
    log = tmp_path / "first.log"
    first = start_two_worker_run(config, store, log)
    # Freeze the first run (it keeps its lock) so it is surely mid-sweep meanwhile.
    first.send_signal(signal.SIGSTOP)
    second = hopsweep("run", str(config), "--store", str(store), cwd=tmp_path)
    assert second.returncode == 2
    assert "being written by another hopsweep process" in second.stderr
    workers = _workers(first.pid)
    first.send_signal(signal.SIGINT)  # delivered on SIGCONT, before anything else runs
    first.send_signal(signal.SIGCONT)
    assert first.wait(timeout=EXIT_TIMEOUT) == 130, log.read_text()
    text = log.read_text()
    assert f"resume with: hopsweep run {config} --store {store}" in text
    assert "Traceback" not in text, text
    gone, alive = psutil.wait_procs(workers, timeout=EXIT_TIMEOUT)
    assert not alive, f"workers left running after Ctrl-C: {alive}"
    status = _read(store, "status")
    assert (status == PENDING).any() and (status != PENDING).any()
    resumed = hopsweep("run", str(config), "--store", str(store), "--workers", "2", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert_identical(store, long_sweep)


@pytest.mark.parametrize(("alpha", "T", "expected"), [(0.05, 0.3, (1.2236, 0.542, 0.216, 0.99116)),
                                                       (0.1, 0.2, (1.3162, 0.315, None, 0.98909))])
def test_theory_prints_the_replica_symmetric_reference_numbers(alpha, T, expected):
    """Against physics.md's table: T_g = 1 + sqrt(alpha) (closed form), T_M +-3e-3 and
    T_c +-3e-3 (the table's rounding plus the stated re-implementation tolerance), m +-1e-4."""
    done = subprocess.run([sys.executable, "-m", "sweep", "theory", "--alpha", str(alpha),
                           "--T", str(T)], capture_output=True, text=True, env=env())
    assert done.returncode == 0, done.stderr
    # a 40-character label column, then the value (or why there is none)
    shown = {line[:40].split()[0]: line[40:] for line in done.stdout.splitlines()[1:]}
    T_g, T_M, T_c, m = expected
    assert float(shown["T_g"]) == pytest.approx(1 + np.sqrt(alpha), abs=1e-5)
    assert float(shown["T_g"]) == pytest.approx(T_g, abs=1e-4)
    assert float(shown["T_M"]) == pytest.approx(T_M, abs=3e-3)
    if T_c is None:  # above alpha = 0.052 retrieval is never the global minimum
        assert shown["T_c"].startswith("none: retrieval states are never the global minima")
    else:
        assert float(shown["T_c"]) == pytest.approx(T_c, abs=3e-3)
    assert float(shown["m(alpha,"]) == pytest.approx(m, abs=1e-4)


def test_status_and_plot_of_a_missing_store_exit_2(tmp_path):
    for command in ("status", "plot"):
        done = hopsweep(command, str(tmp_path / "none.zarr"), cwd=tmp_path)
        assert done.returncode == 2 and "no hopsweep store" in done.stderr


def test_plot_alpha_picks_the_nearest_loads_and_refuses_loads_off_the_grid(
    tmp_path, small_sweep, reference_store
):
    """small_sweep has the loads 0.04, 0.08, 0.12, 0.16 (and N = 50, 80)."""
    store = reference_store(small_sweep)
    chosen = hopsweep("plot", str(store), "--kind", "overlap", "--alpha", "0.05", "0.15",
                      "--N", "50", "-o", str(tmp_path / "two.png"), cwd=tmp_path)
    assert chosen.returncode == 0, chosen.stderr
    assert "drawing alpha = 0.04, 0.16 of the store's 4 loads (choose with --alpha)" in (
        chosen.stderr
    )
    assert (tmp_path / "two.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    every = hopsweep("plot", str(store), "--kind", "overlap", "-o", str(tmp_path / "all.png"),
                     cwd=tmp_path)
    assert every.returncode == 0 and "drawing alpha" not in every.stderr, every.stderr
    for options, message in [
        (["--kind", "overlap", "--alpha", "0.1", "0.2"],
         "--alpha: 0.2 outside the grid's loads 0.04 to 0.16 (choose loads in that range)"),
        (["--alpha", "0.08"], "--alpha: only --kind overlap draws chosen loads"),
    ]:
        refused = hopsweep("plot", str(store), *options, "-o", str(tmp_path / "no.png"),
                           cwd=tmp_path)
        assert refused.returncode == 2, refused.stderr
        assert message in refused.stderr and "Traceback" not in refused.stderr
        assert not (tmp_path / "no.png").exists()


def test_unreachable_scheduler_exits_2_and_leaves_no_store(tmp_path, small_sweep):
    config = write_config(tmp_path, small_sweep)
    quick = {**env(), "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}
    done = subprocess.run([sys.executable, "-m", "sweep", "run", str(config), "--scheduler",
                           "tcp://127.0.0.1:9"], cwd=tmp_path, env=quick, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in done.stderr
    assert not (tmp_path / "results" / "small.zarr").exists()


def test_sigterm_stops_like_ctrl_c(tmp_path, long_sweep):
    """Batch systems end jobs with SIGTERM: same clean stop, exit 130, resume hint."""
    config = write_config(tmp_path, long_sweep)
    store = tmp_path / "s.zarr"
    log = tmp_path / "run.log"
    run = start_two_worker_run(config, store, log)
    workers = _workers(run.pid)
    run.terminate()
    assert run.wait(timeout=EXIT_TIMEOUT) == 130, log.read_text()
    assert "resume with: hopsweep run" in log.read_text()
    _, alive = psutil.wait_procs(workers, timeout=EXIT_TIMEOUT)
    assert not alive, f"workers left running after SIGTERM: {alive}"
    assert (_read(store, "status") == PENDING).any()
