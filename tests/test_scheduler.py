"""``hopsweep run --scheduler``: a real ``dask scheduler`` and two ``dask worker``
processes on 127.0.0.1, plain TCP and TLS (certificates made by the test),
started with the deploy/dask recipe scripts.

Each sweep must reproduce the local run of the same config (assert_same_results)
and must really have run on the started workers.
"""

from __future__ import annotations

from pathlib import Path

from cluster_helpers import (
    TINY,
    DaskProcesses,
    assert_same_results,
    done_fraction,
    hopsweep,
    make_tls_files,
    run_args,
    write_config,
)

from sweep.config import load_spec
from sweep.plan import make_plan

TLS_CLUSTER = """
[cluster]
kind = "address"
address = "tls://127.0.0.1:8786"   # replaced by --scheduler

[cluster.tls]                      # relative to the config file
ca = "tls/ca.pem"
cert = "tls/cert.pem"
key = "tls/key.pem"
"""

#: Seconds a refused connection may take to fail (the client retries for a while).
REFUSAL_TIMEOUT = 120


def executed_per_worker(processes: DaskProcesses) -> list[int]:
    with processes.client() as client:
        counts = client.run(lambda dask_worker: dask_worker.state.executed_count)
    return sorted(counts.values())


def run_on(processes: DaskProcesses, config: Path, store: Path) -> list[int]:
    """Run ``config`` on the scheduler of ``processes`` (must succeed); tasks run per worker."""
    result = hopsweep(*run_args(config, store, "--scheduler", processes.address), cwd=config.parent)
    assert result.returncode == 0, result.stderr + processes.log("scheduler.log")
    return executed_per_worker(processes)


def test_run_on_a_dask_scheduler_matches_the_local_run(tmp_path):
    config = write_config(tmp_path, TINY)
    store = tmp_path / "tiny.zarr"
    with DaskProcesses(tmp_path / "dask", recipe=True) as processes:
        assert processes.address.startswith("tcp://127.0.0.1:")
        executed = run_on(processes, config, store)
    assert_same_results(store, TINY)
    # Every task ran on the two started workers, and both took part.
    assert sum(executed) >= make_plan(load_spec(config)).n_tasks, executed
    assert min(executed) > 0, executed


def test_run_over_tls_matches_the_local_run(tmp_path):
    tls = make_tls_files(tmp_path / "tls")
    make_tls_files(tmp_path / "rogue")  # another CA: its certificate must not be accepted
    config = write_config(tmp_path, TINY, TLS_CLUSTER)
    rogue = write_config(tmp_path, TINY, TLS_CLUSTER.replace('"tls/', '"rogue/'), name="rogue.toml")
    plain = write_config(tmp_path, TINY, name="plain.toml")
    store = tmp_path / "tiny.zarr"
    with DaskProcesses(tmp_path / "dask", tls=tls, recipe=True) as processes:
        assert processes.address.startswith("tls://127.0.0.1:")
        # Unencrypted, or with a certificate from another CA: refused, nothing computed.
        attempts = [
            (plain, processes.address.replace("tls://", "tcp://"), "reset"),
            (rogue, processes.address, "certificate"),
        ]
        for bad_config, address, reason in attempts:
            refused = hopsweep(
                *run_args(bad_config, store, "--scheduler", address),
                cwd=tmp_path,
                timeout=REFUSAL_TIMEOUT,
            )
            assert refused.returncode != 0, (bad_config.name, refused.stderr)
            assert reason in refused.stderr, refused.stderr
            assert done_fraction(store) == 0.0
        executed = run_on(processes, config, store)
    assert_same_results(store, TINY)
    assert sum(executed) >= make_plan(load_spec(config)).n_tasks, executed
