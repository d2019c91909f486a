"""Cost of the reference kernels: Monte Carlo per proposal, exact enumeration per state.

Monte Carlo: our heat-bath sweep (local field from the P overlaps, O(P) per
proposal) side by side with the textbook one that keeps the N x N coupling
matrix (O(N) per proposal), same N, P, temperature and sweeps; reports ns per
proposal and their ratio. Exact: seconds and ns per state for growing N.

Run: NUMBA_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python bench/bench_references.py
"""

from __future__ import annotations

import time

import numba
import numpy as np

from kernels import exact, montecarlo
from kernels.patterns import iid, point_rng


@numba.njit(cache=True, error_model="numpy")
def _coupling_matrix_sweeps(J, beta, s, n_sweeps, chain_rng):
    """Heat-bath sweeps with h_i = sum_j J_ij s_j (J_ii = 0): O(N) per proposal."""
    N = s.shape[0]
    for _ in range(n_sweeps):
        for i in range(N):
            h = 0.0
            for j in range(N):
                h += J[i, j] * s[j]
            s[i] = 1.0 if chain_rng.random() * (1.0 + np.exp(-2.0 * beta * h)) < 1.0 else -1.0


def bench_montecarlo(N: int = 1000, alpha: float = 0.05, T: float = 0.3, n_sweeps: int = 1000):
    xi = iid(N, alpha, point_rng(2017, N, alpha, 0)).xi
    beta = 1.0 / T
    montecarlo.solve(xi[:, :8], beta, n_sweeps=4, n_chains=2, rng=np.random.default_rng(0))
    start = time.perf_counter()
    sol = montecarlo.solve(xi, beta, xi[0], n_sweeps=n_sweeps, n_chains=2,
                           rng=np.random.default_rng(1))
    ours = (time.perf_counter() - start) / (2 * n_sweeps * N)

    J = xi.T @ xi / N
    np.fill_diagonal(J, 0.0)
    _coupling_matrix_sweeps(J[:8, :8].copy(), beta, np.ones(8), 1, np.random.default_rng(0))
    s = xi[0].copy()
    start = time.perf_counter()
    for _ in range(2):
        _coupling_matrix_sweeps(J, beta, s, n_sweeps, np.random.default_rng(2))
    textbook = (time.perf_counter() - start) / (2 * n_sweeps * N)
    print(f"Monte Carlo N={N} P={xi.shape[0]} T={T}: overlap {sol.overlap[0, 0]:.4f}")
    print(f"  pattern sums  {ours * 1e9:7.1f} ns/proposal")
    print(f"  N x N matrix  {textbook * 1e9:7.1f} ns/proposal   ratio {textbook / ours:.1f}x")


def bench_exact(sizes=(16, 20, 22), P: int = 3, K: int = 20):
    rng = np.random.default_rng(0)
    beta = np.linspace(0.2, 5.0, K)
    exact.solve(np.ones((1, 4)), beta)
    for N in sizes:
        xi = rng.choice([-1.0, 1.0], size=(P, N))
        start = time.perf_counter()
        exact.solve(xi, beta, 0.1 * xi[0])
        seconds = time.perf_counter() - start
        print(f"exact N={N} P={P} K={K}: {seconds:.3f} s, {seconds / 2**N * 1e9:.1f} ns/state")


if __name__ == "__main__":
    bench_montecarlo()
    bench_exact()
