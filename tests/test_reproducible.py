"""Bit-reproducible kernels (DESIGN.md, Kernels): identical inputs give identical
bits whatever the arrays' memory offsets and order, the BLAS thread count or the
process (kernels._reproducible explains the three causes found)."""

from __future__ import annotations

import hashlib
import inspect
import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import kernels
from kernels import _bp_full, _reproducible, bp, exact, layered, montecarlo, tap
from kernels.initial import initial_state
from kernels.patterns import Patterns, make, point_rng
from kernels.registry import ALGORITHMS, SolverOptions

ALPHA = 0.125
T = np.array([0.3, 0.8, 2.0])
#: Byte offsets of the input views, from a 64-byte boundary (8 for float64).
OFFSETS = tuple(range(0, 64, 8))
#: N per algorithm: small where the method is costly (full BP, exact, Monte
#: Carlo), larger elsewhere so that the vector loops and BLAS kernels run full
#: blocks as well as remainders.
SIZES = {"bp": 16, "exact": 16, "mc": 16}
DEFAULT_N = 300  # >= VECTOR_SUM_MIN_N: relaxed BP's vectorised sums run; N = 16 too


def _at_offset(a: np.ndarray, offset: int) -> np.ndarray:
    """A view of a copy of ``a`` that starts ``offset`` bytes past a 64-byte boundary
    inside a larger buffer."""
    buffer = np.zeros(a.nbytes + 128, dtype=np.uint8)
    start = -buffer.ctypes.data % 64 + offset
    view = buffer[start : start + a.nbytes].view(a.dtype).reshape(a.shape)
    view[...] = a
    return view


def _layouts(a: np.ndarray):
    """``a`` at every offset of OFFSETS, in Fortran order, and as a strided view."""
    for offset in OFFSETS:
        yield f"offset {offset}", _at_offset(a, offset)
    yield "fortran", np.asfortranarray(a)
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],))
    wide[..., ::2] = a
    yield "strided", wide[..., ::2]


def _fingerprint(solution) -> str:
    """sha256 of every array of a Solution, bit for bit."""
    digest = hashlib.sha256()
    for name in (
        "m",
        "overlap",
        "q",
        "free_energy",
        "iterations",
        "residual",
        "status",
        "overlap_err",
        "q_err",
    ):
        value = getattr(solution, name)
        digest.update(b"-" if value is None else np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()


def _problem(name: str, N: int):
    kind = "features" if name == "layered" else "iid"
    params = {"alpha_D": 1.0} if kind == "features" else {}
    patterns = make(kind, N, ALPHA, point_rng(1, N, ALPHA, 0), **params)
    m0 = initial_state(patterns.xi, "retrieval", point_rng(1, N, ALPHA, 0, "init"))
    return patterns, m0


def _run(name: str, patterns: Patterns, m0: np.ndarray, dtype: str = "float64") -> str:
    options = SolverOptions(max_iter=200, mc_sweeps=200, field=0.3, dtype=dtype)
    solution = ALGORITHMS[name].run(
        patterns, 1 / T, m0, options, point_rng(1, patterns.N, ALPHA, 0, "dynamics")
    )
    return _fingerprint(solution)


def _relaid(patterns: Patterns, relayout) -> Patterns:
    """The same patterns with every array passed through ``relayout``."""
    return Patterns(
        xi=relayout(patterns.xi),
        features=None if patterns.features is None else relayout(patterns.features),
        mixing=None if patterns.mixing is None else tuple(map(relayout, patterns.mixing)),
        linear=patterns.linear,
    )


@pytest.mark.parametrize(
    ("name", "N"),
    [(name, SIZES.get(name, DEFAULT_N)) for name in sorted(ALGORITHMS)]
    + [("bp_relaxed", 16), ("bp_retrieval", 16), ("tap", 16)],
)
def test_every_algorithm_is_bitwise_identical_at_every_input_layout(name, N):
    # Patterns and start at 8 byte offsets, in Fortran order and as strided views:
    # one fingerprint. Relaxed BP at N = 16 used to differ by one ulp between
    # identical calls (reassociated sums whose vector or scalar path depended on
    # where the allocator put the work arrays).
    patterns, m0 = _problem(name, N)
    reference = _run(name, patterns, m0)
    layouts = dict(_layouts(patterns.xi))
    for label in layouts:

        def relayout(a, label=label):
            return dict(_layouts(a))[label]

        assert _run(name, _relaid(patterns, relayout), relayout(m0)) == reference, label


@pytest.mark.parametrize("name", ["tap", "bp_relaxed"])
def test_float32_iteration_is_bitwise_identical_at_every_offset(name):
    patterns, m0 = _problem(name, DEFAULT_N)
    prints = {
        _run(name, _relaid(patterns, lambda a, k=k: _at_offset(a, k)), _at_offset(m0, k), "float32")
        for k in OFFSETS
    }
    assert len(prints) == 1


def test_tap_bits_do_not_depend_on_the_blas_thread_count():
    # OpenBLAS computes xi @ m (P = 50, N = 1000, K = 16) with other bits on two
    # threads than on one; the solvers pin BLAS to one thread while they run.
    N, P, K = 1000, 50, 16
    xi = np.random.default_rng(3).choice([-1.0, 1.0], size=(P, N))
    beta = 1 / np.linspace(0.2, 1.2, K)
    prints = set()
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            prints.add(_fingerprint(tap.solve(xi, beta, xi[0], max_iter=30)))
    assert len(prints) == 1


_SECOND_PROCESS = """
import sys
sys.path.insert(0, {tests!r})
from test_reproducible import _problem, _run
for name, N in [("bp_relaxed", 16), ("tap", {N})]:
    patterns, m0 = _problem(name, N)
    print(_run(name, patterns, m0))
"""


def test_a_second_process_gives_the_same_bits():
    # Another process, started with one OpenBLAS thread (this one has the machine's
    # default) and another Numba thread count: the same fingerprints.
    tests = str(inspect.getfile(_problem)).rsplit("/", 1)[0]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-c", _SECOND_PROCESS.format(tests=tests, N=DEFAULT_N)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    expected = [
        _run(name, *_problem(name, N)) for name, N in [("bp_relaxed", 16), ("tap", DEFAULT_N)]
    ]
    assert done.stdout.split() == expected


def _adjacent(n_arrays: int, N: int, gap: int, dtype=np.float64) -> list[np.ndarray]:
    """``n_arrays`` rows of N entries in one buffer, ``gap`` entries apart."""
    buffer = np.zeros(n_arrays * (N + gap), dtype=dtype)
    return [buffer[k * (N + gap) : k * (N + gap) + N] for k in range(n_arrays)]


#: Orders of (xi, t, u, xm_cav, w_cav) in one buffer: inputs before, after and
#: between the work rows.
ROW_ORDERS = ((0, 1, 2, 3, 4), (3, 4, 0, 1, 2), (4, 0, 3, 1, 2))


def _row_bits(kernel, N: int, dtype, gaps, seed: int) -> set:
    """Results of one relaxed-sweep row kernel with its five arrays laid out side
    by side in one buffer, ``gaps`` entries apart, in every order of ROW_ORDERS."""
    rng = np.random.default_rng(seed)
    xi = rng.choice([-1.0, 1.0], size=N).astype(dtype)
    t = np.tanh(rng.standard_normal(N)).astype(dtype)
    u = (0.1 * rng.standard_normal(N)).astype(dtype)
    results = set()
    for gap in gaps:
        for order in ROW_ORDERS:
            rows = _adjacent(5, N, gap, dtype)
            xi_r, t_r, u_r, xm, w = (rows[k] for k in order)
            xi_r[:], t_r[:], u_r[:] = xi, t, u
            A, V, outside = kernel(xi_r, dtype(2.0), t_r, u_r, xm, w)
            results.add((float(A), float(V), outside, xm.tobytes(), w.tobytes()))
    return results


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_relaxed_sweep_row_bits_do_not_depend_on_where_its_arrays_lie(dtype):
    # The mechanism of the old one-ulp differences: a loop that writes one array
    # and reads another runs a scalar path when they lie closer than its vector
    # block (64 bytes with AVX2, 256 with AVX-512). Short rows (N = 37), inputs and
    # work rows side by side (gaps of 0-40 entries) and far apart: same bits.
    assert len(_row_bits(bp._sweep_row, 37, dtype, range(0, 41, 4), seed=9)) == 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_long_rows_sum_alike_wherever_their_arrays_lie(dtype):
    # _sweep_row_vector (reassociated sums) at N = VECTOR_SUM_MIN_N: its arrays
    # side by side or far apart give the same bits, since rows that long cannot
    # trigger the alias check's scalar path.
    N = bp.VECTOR_SUM_MIN_N
    bits = _row_bits(bp._sweep_row_vector, N, dtype, (0, 1, 3, 8, 64, 1000), seed=17)
    assert len(bits) == 1


def test_relaxed_sweep_row_vector_and_scalar_paths_round_alike():
    # Each entry computed in a full vector loop (N = 64) and alone (N = 1, the
    # scalar path) must have the same bits: multiply-adds are fused (FMA) in the
    # same places on both paths.
    N = 64
    rng = np.random.default_rng(11)
    xi = rng.choice([-1.0, 1.0], size=N)
    t, u = np.tanh(rng.standard_normal(N)), 0.2 * rng.standard_normal(N)
    xm, w = np.empty(N), np.empty(N)
    bp._sweep_row(xi, 2.0, t, u, xm, w)
    one_xm, one_w = np.empty(1), np.empty(1)
    for i in range(N):
        bp._sweep_row(xi[i : i + 1], 2.0, t[i : i + 1], u[i : i + 1], one_xm, one_w)
        assert (one_xm[0], one_w[0]) == (xm[i], w[i]), i


def _lane_sum_by_hand(x: np.ndarray) -> float:
    """The order lane_sum promises, in plain Python floats."""
    n_full = len(x) - len(x) % 8
    lanes = [0.0] * 8
    for i in range(n_full):
        lanes[i % 8] += float(x[i])
    total = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + (
        (lanes[4] + lanes[5]) + (lanes[6] + lanes[7])
    )
    for value in x[n_full:]:
        total += float(value)
    return total


def test_fixed_order_sums_match_their_definition():
    # lane_sum: LANES partial sums combined pairwise, then the tail in order, bit
    # for bit; lane_log_product: the sum of the logs to rounding (one log per lane
    # block of up to 64 factors in [0.19, 3.6], the range of the Bethe edge ratios).
    rng = np.random.default_rng(13)
    for n in (0, 1, 7, 8, 9, 100, 1001, 5000):
        x = rng.standard_normal(n)
        assert _reproducible.lane_sum(x) == _lane_sum_by_hand(x)
        ratios = rng.uniform(0.19, 3.6, size=n)
        expected = float(np.sum(np.log(ratios)))
        assert abs(_reproducible.lane_log_product(ratios) - expected) <= 1e-13 * max(1.0, n)


def _dispatchers():
    for module in (bp, _bp_full, _reproducible, exact, montecarlo, tap, layered):
        for name, value in vars(module).items():
            if isinstance(value, numba.core.registry.CPUDispatcher):
                yield f"{module.__name__}.{name}", value


def test_only_the_long_row_sweep_is_compiled_with_reassociation():
    # 'reassoc' (or 'fast', which includes it) lets LLVM reorder sums per code
    # path. The one kernel allowed it, the relaxed sweep's row for N >=
    # VECTOR_SUM_MIN_N, has a single path at those lengths (see the test below).
    found = dict(_dispatchers())
    assert {"kernels.bp._sweep_row", "kernels._bp_full._sweep"} <= set(found)
    reassociating = set()
    for name, dispatcher in found.items():
        flags = dispatcher.targetoptions.get("fastmath", False)
        if flags is True:
            flags = {"fast"}
        if set(flags or ()) & {"fast", "reassoc"}:
            reassociating.add(name)
    assert reassociating == {"kernels.bp._sweep_row_vector"}


def test_solvers_do_not_write_their_inputs_and_keep_their_signature():
    xi = np.random.default_rng(2).choice([-1.0, 1.0], size=(3, 40))
    before = xi.copy()
    bp.solve(xi, 2.0, xi[0], retrieved=0, max_iter=5)
    np.testing.assert_array_equal(xi, before)
    assert "retrieved" in inspect.signature(bp.solve).parameters
    assert kernels.tap.solve.__doc__ and "Parameters" in kernels.tap.solve.__doc__
