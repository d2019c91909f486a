"""Job-array mode: ``hopsweep shard`` processes, alone or together, fill one store.

Every store written here must equal the store of a plain local ``hopsweep run``
of the same config, point for point (see cluster_helpers.assert_same_results).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
import xarray as xr
from cluster_helpers import (
    LONG,
    TINY,
    assert_same_results,
    done_fraction,
    env,
    hopsweep,
    hopsweep_popen,
    slow_env,
    wait_for_progress,
    write_config,
)

from sweep.config import load_spec
from sweep.plan import make_plan
from sweep.shard import run_shard

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"

#: Seconds a shard process may take (import, Numba cache, a second of compute).
SHARD_TIMEOUT = 120


def shard_args(config: Path, store: Path, index: int = 0, count: int = 1) -> tuple[str, ...]:
    """Arguments of ``hopsweep shard CONFIG --index INDEX --count COUNT --store STORE``.

    The default is the one shard of a sweep split in one.
    """
    return (
        "shard",
        str(config),
        "--index",
        str(index),
        "--count",
        str(count),
        "--store",
        str(store),
    )


def start_shard(config: Path, store: Path, index: int, count: int, log: Path) -> subprocess.Popen:
    return hopsweep_popen(*shard_args(config, store, index, count), cwd=config.parent, log=log)


def test_four_concurrent_shards_create_one_store_and_lose_nothing(tmp_path):
    """Four shards start at the same moment on a store that does not exist yet."""
    config = write_config(tmp_path, TINY)
    store = tmp_path / "out" / "tiny.zarr"
    assert make_plan(load_spec(config)).n_tasks == 8  # two whole chunks per shard
    shards = [start_shard(config, store, i, 4, tmp_path / f"shard{i}.log") for i in range(4)]
    codes = [shard.wait(timeout=SHARD_TIMEOUT) for shard in shards]
    logs = [(tmp_path / f"shard{i}.log").read_text() for i in range(4)]
    assert codes == [0, 0, 0, 0], logs
    for i, log in enumerate(logs):
        assert f"shard {i}/4: 2 of 8 tasks to compute" in log, log
    assert_same_results(store, TINY)
    # Losers of the creation race leave no temporary template behind.
    assert sorted(p.name for p in store.parent.iterdir()) == ["tiny.zarr"]


def test_status_merges_shards_and_run_fills_what_they_left(tmp_path):
    config = write_config(tmp_path, TINY)
    store = tmp_path / "tiny.zarr"
    for index in (0, 2):  # shards 1 and 3 of 4 never ran
        result = hopsweep(*shard_args(config, store, index, 4), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert done_fraction(store) == pytest.approx(0.5)
    status = hopsweep("status", str(store), cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    assert "done      60/120 (50.0%)" in status.stdout, status.stdout
    assert "pending" in status.stdout
    run = hopsweep("run", str(config), "--store", str(store), "--workers", "2", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "computed 60 points" in run.stderr, run.stderr
    assert_same_results(store, TINY)


def test_killed_shard_resumes_and_loses_nothing(tmp_path):
    """SIGKILL of a shard mid-sweep; rerunning it computes only what is pending."""
    config = write_config(tmp_path, LONG)
    store = tmp_path / "long.zarr"
    n_tasks = make_plan(load_spec(config)).n_tasks
    shard = hopsweep_popen(
        *shard_args(config, store),
        cwd=tmp_path,
        log=tmp_path / "first.log",
        extra_env=slow_env(),
        slow=True,
    )
    try:
        wait_for_progress(store, shard)
    finally:
        os.killpg(shard.pid, signal.SIGKILL)
        shard.wait(timeout=SHARD_TIMEOUT)
    left = done_fraction(store)
    assert 0.0 < left < 1.0
    result = hopsweep(*shard_args(config, store), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    pending_line = next(line for line in result.stderr.splitlines() if "to compute" in line)
    pending = int(pending_line.split(": ")[1].split(" of ")[0])
    assert 0 < pending < n_tasks, pending_line
    assert_same_results(store, LONG)


def test_failing_points_are_stored_and_reported_by_the_exit_code(tmp_path):
    """A task that raises (HOPSWEEP_FAULT) is data: status 4 with its error, exit 1."""
    config = write_config(tmp_path, TINY)
    store = tmp_path / "tiny.zarr"
    fault = {"HOPSWEEP_FAULT": "alpha=0.05"}
    first = hopsweep(*shard_args(config, store), cwd=tmp_path, extra_env=fault)
    assert first.returncode == 1, first.stderr
    assert "8 tasks done, 2 failed" in first.stderr, first.stderr
    with xr.open_zarr(store) as ds:
        failed = (ds.status == 4).any("T").load()
        errors = ds["error"].load()
    assert failed.sel(alpha=0.05).all() and not failed.drop_sel(alpha=0.05).any()
    assert all("InjectedFault" in str(e) for e in errors.sel(alpha=0.05).values.ravel())
    # Rerunning the shard computes nothing new and still reports the failed points.
    again = hopsweep(*shard_args(config, store), cwd=tmp_path)
    assert again.returncode == 1
    assert "0 of 8 tasks to compute" in again.stderr, again.stderr
    fixed = hopsweep(
        "run", str(config), "--store", str(store), "--workers", "2", "--retry-failed", cwd=tmp_path
    )
    assert fixed.returncode == 0, fixed.stderr
    assert_same_results(store, TINY)


def test_pbs_array_recipe_runs_every_shard(tmp_path):
    """deploy/pbs/array.pbs with a PBS array environment set by hand (no PBS server here)."""
    config = write_config(tmp_path, TINY)
    store = tmp_path / "tiny.zarr"
    for index in range(2):
        result = subprocess.run(
            ["bash", str(DEPLOY / "pbs" / "array.pbs")],
            env={
                **env(),
                "PBS_ARRAY_INDEX": str(index),
                "SHARD_COUNT": "2",
                "PBS_O_WORKDIR": str(tmp_path),
                "CONFIG": str(config),
                "STORE": str(store),
                "HOPSWEEP": f"{os.sys.executable} -m sweep",
            },
            capture_output=True,
            text=True,
            timeout=SHARD_TIMEOUT,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"shard {index}/2: 4 of 8 tasks" in result.stderr
    assert_same_results(store, TINY)


def test_shard_refuses_a_store_of_another_spec(tmp_path):
    config = write_config(tmp_path, TINY)
    other = write_config(
        tmp_path, TINY.replace("root_seed = 2017", "root_seed = 1"), name="other.toml"
    )
    store = tmp_path / "tiny.zarr"
    first = hopsweep(*shard_args(config, store, 0, 8), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = done_fraction(store)
    second = hopsweep(*shard_args(other, store, 1, 8), cwd=tmp_path)
    assert second.returncode == 2
    assert "another spec" in second.stderr, second.stderr
    assert done_fraction(store) == before


@pytest.mark.parametrize(
    ("index", "count", "argument"),
    [(4, 4, "--index"), (-1, 4, "--index"), (0, 0, "--count")],
)
def test_bad_index_or_count_is_a_usage_error(tmp_path, index, count, argument):
    config = write_config(tmp_path, TINY)
    # the library names its keyword (index=, count=); the command names the flag (below)
    with pytest.raises(ValueError, match=f"^{argument.removeprefix('--')}:"):
        run_shard(load_spec(config), index=index, count=count, store=tmp_path / "x.zarr")
    assert not (tmp_path / "x.zarr").exists(), "nothing may be written on bad input"


def test_bad_index_from_the_command_line_exits_2(tmp_path):
    config = write_config(tmp_path, TINY)
    result = hopsweep(*shard_args(config, tmp_path / "x.zarr", 3, 3), cwd=tmp_path)
    assert result.returncode == 2
    assert "--index" in result.stderr
    assert not (tmp_path / "x.zarr").exists()
