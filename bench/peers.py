"""hopsweep against the tools a user would pick instead, same physics, same grid, one run.

Run: ``python bench/peers.py`` (about 7 minutes on 2 quiet cores).

The peers need ``xyzpy`` beside hopsweep. In a fresh environment::

    python -m venv .venv-peers && . .venv-peers/bin/activate
    pip install -e . xyzpy && python bench/peers.py

Every tool computes TAP (AMP with time indices, physics.md section c: damping
0.5, tol 1e-8 on max |dm|, at most 2000 iterations, started on pattern 0) on the
same disorder: the peers build each point's patterns with
``kernels.patterns.iid(N, alpha, point_rng(root_seed, N, alpha, seed))``, the
call hopsweep makes, on the grid read back from hopsweep's own store. They are
what a user writes from the paper in plain numpy, float64:

- ``xyzpy``: ``xyzpy.Runner`` over (alpha, T, seed), one point per call, on
  the 2-worker Dask cluster as its executor (xyzpy's own loky pool would import
  bench/kernels.py in its workers, where the name shadows the kernels package);
- ``dask per point``: one ``client.submit`` per (alpha, T, seed) point on a
  2-worker LocalCluster;
- ``batched numpy``: one Dask task per (alpha, seed) that iterates all
  temperatures at once with matrix-matrix products and drops the rows that have
  converged (an active set), on the same cluster.

hopsweep runs twice: the whole ``hopsweep run`` command as a subprocess (Python
start, imports, cluster start, store), and ``sweep.run`` on the warm client the
peers used (imports and cluster already paid, as in a notebook). The peers are
timed warm, in this process, on the same client (their imports, pools and
cluster are not charged to them).

The two grids (float64 on every side):

- small: N = 1000, 8 loads x 16 temperatures x 4 seeds = 512 points;
  ``lead_small`` = best peer / warm ``sweep.run``;
- large: N = 2000, 8 loads x 32 temperatures x 8 seeds = 2048 points;
  ``lead_large`` = best peer / whole ``hopsweep run`` command (the median of
  COMMAND_RUNS runs).

Agreement is checked where both hopsweep and a peer report a converged
retrieval state (overlap > 0.5): the overlaps must agree to 1e-6. Iterations
are counted on every side (point-iterations summed over the grid), so a lead
that comes from doing less work shows as such: the peers iterate every point
to its budget unless it converges or blows up, hopsweep stops hopeless points
early.

The last line is machine-readable: ``lead_small=L lead_large=L``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import _unshadow  # noqa: F401  (first: the kernels package, not bench/kernels.py)
import numpy as np
from engine import tap_config

from kernels.patterns import iid, point_rng

ROOT_SEED = 2017
DAMPING = 0.5
TOL = 1e-8
MAX_ITER = 2000
#: Overlap above which a converged state counts as retrieval in the agreement check.
RETRIEVAL_OVERLAP = 0.5
#: Largest |m_hopsweep - m_peer| allowed on points both call converged retrievals.
AGREEMENT = 1e-6
WORKERS = 2
#: Runs of the whole ``hopsweep run`` command per grid; its median is compared. One
#: run of a 10 s command varied by 10-25 % here between runs of this script. The
#: peers, a minute and more each, run once, and the fastest of them is compared.
COMMAND_RUNS = 3

SMALL = tap_config("peers_small", 1000, alpha=(0.02, 0.16, 8), T=(0.05, 1.2, 16), seeds=4)
LARGE = tap_config("peers_large", 2000, alpha=(0.02, 0.16, 8), T=(0.05, 1.2, 32), seeds=8)


# --- the peers' physics: plain numpy, written from physics.md section c ----------------


def patterns(N: int, alpha: float, seed: int) -> np.ndarray:
    """(P, N) float64 patterns of one point, as hopsweep draws them."""
    return iid(N, alpha, point_rng(ROOT_SEED, N, alpha, seed)).xi.astype(np.float64)


def tap_point(N: int, alpha: float, T: float, seed: int) -> tuple[float, bool, int]:
    """One point, one temperature: (overlap with pattern 0, converged, iterations)."""
    xi = patterns(N, alpha, seed)
    P = xi.shape[0]
    beta = 1.0 / T
    np.seterr(over="ignore", invalid="ignore")   # a run-away iteration ends as NaN
    m = xi[0].copy()
    g = xi @ m / N
    for t in range(1, MAX_ITER + 1):
        c = beta * (1.0 - m @ m / N)
        M = xi @ m / N
        g = (M - c * g) / (1.0 - c)
        h = xi.T @ g - (P / N) * m / (1.0 - c)
        new = (1.0 - DAMPING) * np.tanh(beta * h) + DAMPING * m
        change = np.max(np.abs(new - m))
        m = new
        if not np.isfinite(change):
            return float("nan"), False, t
        if change < TOL:
            return float(xi[0] @ m / N), True, t
    return float(xi[0] @ m / N), False, MAX_ITER


def tap_batched(N: int, alpha: float, T: np.ndarray, seed: int):
    """One (alpha, seed), all temperatures at once: (overlap, converged, iterations), each (K,)."""
    xi = patterns(N, alpha, seed)
    P, K = xi.shape[0], T.size
    np.seterr(over="ignore", invalid="ignore")   # a run-away iteration ends as NaN
    beta = (1.0 / T)[:, None]
    m = np.repeat(xi[:1], K, axis=0)
    g = m @ xi.T / N
    overlap = np.full(K, np.nan)
    converged = np.zeros(K, dtype=bool)
    iterations = np.full(K, MAX_ITER)
    active = np.arange(K)
    for t in range(1, MAX_ITER + 1):
        c = beta * (1.0 - np.einsum("kn,kn->k", m, m)[:, None] / N)
        M = m @ xi.T / N
        g = (M - c * g) / (1.0 - c)
        h = g @ xi - (P / N) * m / (1.0 - c)
        new = (1.0 - DAMPING) * np.tanh(beta * h) + DAMPING * m
        change = np.max(np.abs(new - m), axis=1)
        m = new
        done = (change < TOL) | ~np.isfinite(change) | (t == MAX_ITER)
        if done.any():
            rows = active[done]
            overlap[rows] = m[done] @ xi[0] / N
            converged[rows] = change[done] < TOL
            iterations[rows] = t
            keep = ~done
            active, m, g, beta = active[keep], m[keep], g[keep], beta[keep]
        if active.size == 0:
            break
    return overlap, converged, iterations


# --- running each tool ---------------------------------------------------------------


def grid_of(ds) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(N, alpha, T, seed) of a one-N store."""
    return (int(ds.N.values[0]), ds.alpha.values, ds.T.values, ds.seed.values)


def columns(results: list, shape: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(m, converged, iterations), each of ``shape``, from per-task result triples."""
    m, converged, iterations = (np.array(c).reshape(shape) for c in zip(*results, strict=True))
    return m, converged.astype(bool), iterations


def run_xyzpy(grid, client):
    import xyzpy

    N, alphas, temperatures, seeds = grid
    runner = xyzpy.Runner(lambda alpha, T, seed: tap_point(N, alpha, T, seed),
                          var_names=["m", "converged", "iterations"])
    ds = runner.run_combos({"alpha": list(alphas), "seed": list(seeds), "T": list(temperatures)},
                           executor=client, verbosity=0)
    ds = ds.transpose("alpha", "seed", "T")
    return ds.m.values, ds.converged.values.astype(bool), ds.iterations.values


def run_dask_per_point(grid, client):
    N, alphas, temperatures, seeds = grid
    keys = [(a, s, T) for a in alphas for s in seeds for T in temperatures]
    futures = client.map(lambda key: tap_point(N, key[0], key[2], key[1]), keys, pure=False)
    return columns(client.gather(futures), (len(alphas), len(seeds), len(temperatures)))


def run_batched(grid, client):
    N, alphas, temperatures, seeds = grid
    keys = [(a, s) for a in alphas for s in seeds]
    futures = client.map(lambda key: tap_batched(N, key[0], temperatures, key[1]), keys,
                         pure=False)
    return columns(client.gather(futures), (len(alphas), len(seeds), len(temperatures)))


def hopsweep_command(config_text: str, directory: Path) -> list[float]:
    """Wall seconds of COMMAND_RUNS runs of the whole ``hopsweep run`` command, each
    from launch to exit, on a new store."""
    config = directory / "peers.toml"
    config.write_text(config_text)
    store = directory / "cli.zarr"
    seconds = []
    for _ in range(COMMAND_RUNS):
        shutil.rmtree(store, ignore_errors=True)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "sweep", "run", str(config), "--store", str(store),
                        "--workers", str(WORKERS)], check=True, capture_output=True,
                       cwd=directory)
        seconds.append(time.perf_counter() - start)
    return seconds


def hopsweep_api(config_text: str, directory: Path, client) -> tuple[float, object]:
    """Wall seconds of ``sweep.run`` on the warm client, and its Dataset."""
    import sweep

    store = directory / "api.zarr"
    shutil.rmtree(store, ignore_errors=True)
    start = time.perf_counter()
    ds = sweep.run(tomllib.loads(config_text), store=store, client=client, progress=False)
    return time.perf_counter() - start, ds.load()


def hopsweep_arrays(ds):
    """(m, converged, iterations) of a one-algorithm, one-N store, shaped (alpha, seed, T)."""
    sel = ds.isel(algorithm=0, N=0)
    return sel.m.values, sel.converged.values.astype(bool), sel.iterations.values


def compare(name: str, ours, theirs, seconds: float) -> None:
    """Check agreement on converged retrievals and print the peer's line."""
    m_ours, conv_ours, it_ours = ours
    m_peer, conv_peer, it_peer = theirs
    both = conv_ours & conv_peer & (m_ours > RETRIEVAL_OVERLAP) & (m_peer > RETRIEVAL_OVERLAP)
    if not both.any():
        raise RuntimeError(f"{name}: no point that both call a converged retrieval")
    gap = float(np.max(np.abs(m_ours[both] - m_peer[both])))
    if gap > AGREEMENT:
        raise RuntimeError(f"{name} disagrees with hopsweep by {gap:.2e} on converged retrievals")
    print(f"  {name:<16} {seconds:7.2f} s  {int(np.sum(it_peer)):>9} point-iterations  "
          f"agrees on {int(both.sum())} converged retrievals to {gap:.1e}")


def bench_grid(label: str, config_text: str, directory: Path, client) -> tuple[float, float, float]:
    """(best peer seconds, warm sweep.run seconds, whole command seconds) of one grid."""
    hopsweep_api(config_text, directory, client)                 # warm: imports, numba cache
    api_seconds, ds = hopsweep_api(config_text, directory, client)
    runs = hopsweep_command(config_text, directory)
    cli_seconds = float(np.median(runs))
    ours = hopsweep_arrays(ds)
    grid = grid_of(ds)
    print(f"{label}: N = {grid[0]}, {ours[0].size} points")
    print(f"  {'hopsweep run':<16} {cli_seconds:7.2f} s  whole command, median of "
          f"{', '.join(f'{r:.2f}' for r in runs)}")
    print(f"  {'sweep.run':<16} {api_seconds:7.2f} s  {int(np.sum(ours[2])):>9} point-iterations "
          "(warm client)")
    peers = {}
    for name, run in [("xyzpy", lambda: run_xyzpy(grid, client)),
                      ("dask per point", lambda: run_dask_per_point(grid, client)),
                      ("batched numpy", lambda: run_batched(grid, client))]:
        start = time.perf_counter()
        theirs = run()
        peers[name] = time.perf_counter() - start
        compare(name, ours, theirs, peers[name])
    best = min(peers, key=peers.get)
    print(f"  best peer: {best}")
    return peers[best], api_seconds, cli_seconds


def main() -> None:
    from distributed import Client, LocalCluster

    directory = Path(tempfile.mkdtemp(prefix="hopsweep-peers-"))
    try:
        with LocalCluster(n_workers=WORKERS, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            best_small, api_small, _ = bench_grid("small grid", SMALL, directory, client)
            best_large, _, cli_large = bench_grid("large grid", LARGE, directory, client)
        print(f"lead_small={best_small / api_small:.2f} lead_large={best_large / cli_large:.2f}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
