"""Multi-layer AMP for patterns built from features (physics.md section e).

Model. Patterns xi = C_1 ... C_L F / sqrt(D_1 ... D_L) with bottom features F
(D_L, N) and mixing matrices C_1 (P, D_1), ..., C_L (D_{L-1}, D_L). The
Hubbard-Stratonovich weight of the Hopfield model,
exp(-beta |lambda|^2 / 2 + beta lambda . xi s / sqrt(N)), is then a chain of
linear layers: hidden units lambda = t_0 (P), t_l = W_l^T t_{l-1} with
W_l = C_l / sqrt(D_l) (l = 1..L), v = W_F^T s with W_F = F^T / sqrt(N), and the
bilinear factor exp(beta v . t_L) joining the two ends.

Algorithm. GAMP on every linear layer (one output estimate omega, variance V
per layer), in the sign convention where an incoming message on a node is
exp(B t + A t^2 / 2) (A > 0 is attractive). Per iteration, with AMP time indices:

1. every layer: V_l = sigma_{l-1} @ W_l^2, omega_l = t_{l-1} @ W_l - V_l gbar_l;
   bottom: V_v = (1 - m^2) @ W_F^2 (= 1 - q for ±1 features),
   omega_v = m @ W_F - V_v gbar_v;
2. junction (the bilinear factor), Delta = 1 - beta^2 V_v V_L:
   g_L = beta (omega_v + beta V_v omega_L) / Delta, dg_L = beta^2 V_v / Delta;
   g_v = beta (omega_L + beta V_L omega_v) / Delta, dg_v = beta^2 V_L / Delta;
3. intermediate nodes l = L-1 .. 1, from the message of the layer below,
   A = dg_{l+1} @ (W_{l+1}^2)^T, B = g_{l+1} @ W_{l+1}^T - A t_l, and the estimate
   (omega_l, V_l) from the layer above: den = 1 - V_l A,
   g_l = (B + A omega_l) / den, dg_l = A / den, t_l = (omega_l + V_l B) / den,
   sigma_l = V_l / den;
4. top (prior precision beta): lambda = B / (beta - A), sigma_0 = 1 / (beta - A);
5. bottom: m = tanh(g_v @ W_F^T - (dg_v @ (W_F^2)^T) m + beta field).

For L = 1 these are exactly the equations of physics.md section e; eliminating
the hidden layers gives TAP with the reaction term of the model's spectrum
(:mod:`kernels.reaction`). Damping d mixes every node estimate (m, t_l, sigma_l)
with its previous value, and the Onsager terms use the damped averages
gbar = (1 - d) g + d gbar_old of the output messages (the field history a damped
estimate responds to; see :mod:`kernels.tap`).

Transient guard. The bottom variance enters the junction only through
beta V_v, the x = beta (1 - q) of TAP; like the x clip of TAP it is clipped
to the guard x_max = EDGE_GUARD x_e of the spectral edge of J (V_v <=
x_max / beta), so a transient that wanders outside the domain keeps the hidden
precisions positive instead of ending the row. Without it every zero-field
row at T <= 1.6 (alpha = 0.1, alpha_D = 0.5, N = 1000, start on a pattern) ended
DIVERGED within 5-20 iterations, also where the state it heads for lies inside
the domain (x = 0.44 < x_e = 0.46 at T = 0.6-1.2: condensation onto the top
eigen-directions of J, physics.md e); with it those rows converge.

Exit. A row is DIVERGED when a precision is non-positive anyway (Delta, den or
beta - A <= 0: the Gaussian integrals of the hidden layers diverge) or a value
is non-finite. A row whose last step is below ``tol`` is checked: its
``residual`` is the spin equation m_i = tanh(B_i) of one more undamped step
from the returned state (all layers), max_i |tanh(B_i) - m_i|; CONVERGED needs
it <= RESIDUAL_FACTOR tol and x = beta (1 - q) below the guard (inside the
domain); a solved state at or beyond it is INVALID (no TAP state exists there,
physics.md e). At zero field, real-valued feature patterns have no stable
retrieval for alpha >= 0.05: low-T rows then end INVALID or NOT_CONVERGED
(states pinned at the edge); the domain is entered with a field or at high T.

Free energy: the adaptive-TAP free energy of the returned magnetizations with
the spectral reaction term (:func:`kernels.tap.free_energy_tap`); at a fixed
point of this solver m is a stationary point of it in the large-N limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import MAX_ITER, check_beta, check_field, check_iteration, check_start
from ._reproducible import reproducible
from .patterns import mixture
from .reaction import SpectralReaction
from .solution import DIVERGED, INVALID, NOT_CONVERGED, Solution, exit_status, status_code


@dataclass(frozen=True)
class _Chain:
    """Weights of the linear layers and their elementwise squares.

    W[l] of shape (n_l, n_{l+1}) maps node l to node l+1 (n_0 = P, n_L = D_L);
    WF of shape (N, D_L) maps the spins to the bottom of the junction.
    """

    W: tuple[np.ndarray, ...]
    W2: tuple[np.ndarray, ...]
    WF: np.ndarray
    WF2: np.ndarray

    @classmethod
    def build(cls, features: np.ndarray, mixing: list[np.ndarray]) -> _Chain:
        W = tuple(np.ascontiguousarray(C / np.sqrt(C.shape[1])) for C in mixing)
        WF = np.ascontiguousarray(features.T / np.sqrt(features.shape[1]))
        return cls(W=W, W2=tuple(w * w for w in W), WF=WF, WF2=WF * WF)


@dataclass
class _State:
    """Iterates of the active temperatures (rows)."""

    rows: np.ndarray
    beta: np.ndarray  # (k, 1)
    m: np.ndarray  # (k, N)
    t: list[np.ndarray]  # node means t_0 = lambda, ..., t_{L-1}
    sigma: list[np.ndarray]  # node variances
    gbar: list[np.ndarray]  # damped output messages of the layers 1..L
    gbar_v: np.ndarray  # damped output message of the bottom layer

    def keep(self, mask: np.ndarray) -> None:
        self.rows, self.beta, self.m = self.rows[mask], self.beta[mask], self.m[mask]
        self.gbar_v = self.gbar_v[mask]
        for name in ("t", "sigma", "gbar"):
            setattr(self, name, [a[mask] for a in getattr(self, name)])

    def subset(self, mask: np.ndarray) -> _State:
        """The rows where ``mask`` is True, as a new state (copies)."""
        return _State(
            rows=self.rows[mask],
            beta=self.beta[mask],
            m=self.m[mask],
            t=[a[mask] for a in self.t],
            sigma=[a[mask] for a in self.sigma],
            gbar=[a[mask] for a in self.gbar],
            gbar_v=self.gbar_v[mask],
        )


@reproducible
def solve(
    features: np.ndarray,
    mixing,
    beta: np.ndarray | float,
    m0: np.ndarray | None = None,
    *,
    field: np.ndarray | None = None,
    damping: float = 0.5,
    tol: float = 1e-8,
    max_iter: int = MAX_ITER,
) -> Solution:
    """Multi-layer AMP for the feature model, K temperatures at once.

    Parameters
    ----------
    features : ndarray of shape (D_L, N)
        Bottom features F (±1 in :func:`kernels.patterns.features`; any real
        values are accepted).
    mixing : ndarray of shape (P, D) or sequence of ndarray
        Mixing matrices, top first: C_1 (P, D_1), ..., C_L (D_{L-1}, D_L), so that
        xi = C_1 ... C_L F / sqrt(D_1 ... D_L).
    beta : float or ndarray of shape (K,)
        Inverse temperatures, finite and > 0.
    m0 : None or ndarray of shape (N,) or (K, N), default=None
        Initial magnetizations in [-1, 1]; None starts on pattern 0,
        m_i = sign(xi^0_i). The hidden means start at lambda = xi m0 / sqrt(N)
        propagated down the layers, the variances at the prior's.
    field : None or ndarray of shape (N,), default=None
        External fields h_i (a field along pattern 0 is ``h * xi[0]``).
    damping : float, default=0.5
        d in [0, 1): estimate <- (1 - d) new + d old.
    tol : float, default=1e-8
        Convergence threshold on max_i |m_i^{t+1} - m_i^t|.
    max_iter : int, default=MAX_ITER (2000)
        Iteration budget per temperature.

    Returns
    -------
    Solution
        ``m`` (K, N), ``overlap`` (K, P) with the patterns xi, ``q`` (K,),
        ``free_energy`` (K,) (adaptive-TAP free energy, NaN where DIVERGED),
        ``iterations``, ``residual`` and ``status`` (K,): CONVERGED;
        NOT_CONVERGED when the budget ran out; DIVERGED when a hidden-layer
        precision turned non-positive, a value became non-finite, or the final
        x = beta (1 - q) is at or beyond the spectral edge.
    """
    features, mixing, beta, m_start, field = _validated(
        features, mixing, beta, m0, field, damping, tol, max_iter
    )
    xi = mixture(features, mixing)
    if m_start is None:
        m_start = np.where(xi[0] >= 0, 1.0, -1.0)
    chain = _Chain.build(features, mixing)
    reaction = SpectralReaction.from_patterns(xi)
    m, iterations, residual, status = _iterate(
        chain, xi, beta, m_start, field, damping, tol, max_iter, reaction.x_max
    )
    N = xi.shape[1]
    overlap = m @ xi.T / N
    q = np.einsum("kn,kn->k", m, m) / N
    x = beta * (1.0 - q)
    status = exit_status(status, residual, tol, reaction.valid(x) & (x < reaction.x_max))
    from .tap import free_energy_tap

    return Solution(
        m=m,
        overlap=overlap,
        q=q,
        free_energy=np.where(
            (status == DIVERGED) | (status == INVALID),
            np.nan,
            free_energy_tap(xi, beta, m, reaction, field, overlap),
        ),
        iterations=iterations,
        residual=residual,
        status=status,
    )


def _initial_state(chain: _Chain, xi, beta, m_start) -> _State:
    K, N = beta.size, xi.shape[1]
    m = np.array(np.broadcast_to(m_start, (K, N)), dtype=np.float64)
    b = beta[:, None]
    t = [m @ xi.T / np.sqrt(N)]
    sigma = [np.broadcast_to(1.0 / b, t[0].shape).copy()]
    for W, W2 in zip(chain.W[:-1], chain.W2[:-1], strict=True):
        t.append(t[-1] @ W)
        sigma.append(sigma[-1] @ W2)
    return _State(
        rows=np.arange(K),
        beta=b,
        m=m,
        t=t,
        sigma=sigma,
        gbar=[np.zeros((K, W.shape[1])) for W in chain.W],
        gbar_v=np.zeros((K, chain.WF.shape[1])),
    )


def _step(chain: _Chain, s: _State, field, x_max: float):
    """One multi-layer AMP iteration on the active rows, beta V_v clipped to ``x_max``.

    Returns the new (undamped) m, node means, node variances, output messages
    g (layers 1..L), g_v, and a (k,) mask of rows whose precisions stayed positive.
    """
    L = len(chain.W)
    b = s.beta
    V = [sig @ W2 for sig, W2 in zip(s.sigma, chain.W2, strict=True)]
    omega = [t @ W - v * gb for t, W, v, gb in zip(s.t, chain.W, V, s.gbar, strict=True)]
    V_v = np.minimum((1.0 - s.m * s.m) @ chain.WF2, x_max / b)
    omega_v = s.m @ chain.WF - V_v * s.gbar_v
    # junction: the bilinear factor exp(beta v . t_L)
    delta = 1.0 - b * b * V_v * V[-1]
    ok = np.all(delta > 0, axis=1)
    g = [None] * L
    dg = [None] * L
    g[-1] = b * (omega_v + b * V_v * omega[-1]) / delta
    dg[-1] = b * b * V_v / delta
    g_v = b * (omega[-1] + b * V[-1] * omega_v) / delta
    dg_v = b * b * V[-1] / delta
    t_new = [None] * L
    sigma_new = [None] * L
    for layer in range(L - 2, -1, -1):  # node layer + 1, between layers layer and layer + 1
        W, W2 = chain.W[layer + 1], chain.W2[layer + 1]
        A = dg[layer + 1] @ W2.T
        B = g[layer + 1] @ W.T - A * s.t[layer + 1]
        den = 1.0 - V[layer] * A
        ok &= np.all(den > 0, axis=1)
        g[layer] = (B + A * omega[layer]) / den
        dg[layer] = A / den
        t_new[layer + 1] = (omega[layer] + V[layer] * B) / den
        sigma_new[layer + 1] = V[layer] / den
    A = dg[0] @ chain.W2[0].T
    B = g[0] @ chain.W[0].T - A * s.t[0]
    precision = b - A
    ok &= np.all(precision > 0, axis=1)
    t_new[0] = B / precision
    sigma_new[0] = 1.0 / precision
    A_s = dg_v @ chain.WF2.T
    h = g_v @ chain.WF.T - A_s * s.m
    if field is not None:
        h += b * field
    return np.tanh(h), t_new, sigma_new, g, g_v, ok


def _iterate(chain, xi, beta, m_start, field, damping, tol, max_iter, x_max):
    """Damped multi-layer AMP with a compacted active set of temperatures.

    Returns m (K, N), iterations (K,), residual (K,) (the spin equation of one
    more undamped step at each returned state, NaN where DIVERGED) and the
    iteration's status (K,), before the domain check of :func:`solve`.
    """
    K, N = beta.size, xi.shape[1]
    m_out = np.empty((K, N))
    iterations = np.zeros(K, dtype=np.int64)
    residual = np.full(K, np.nan)
    status = np.full(K, NOT_CONVERGED, dtype=np.int8)
    s = _initial_state(chain, xi, beta, m_start)
    keep = 1.0 - damping
    for it in range(1, max_iter + 1):
        with np.errstate(all="ignore"):
            m_new, t_new, sigma_new, g, g_v, ok = _step(chain, s, field, x_max)
            res = keep * np.abs(m_new - s.m).max(axis=1)
        diverged = ~ok | ~np.isfinite(res)
        for new in (m_new, g_v, *t_new, *sigma_new, *g):
            diverged |= ~np.all(np.isfinite(new), axis=1)
        s.m = keep * m_new + damping * s.m
        s.t = [keep * a + damping * old for a, old in zip(t_new, s.t, strict=True)]
        s.sigma = [keep * a + damping * old for a, old in zip(sigma_new, s.sigma, strict=True)]
        s.gbar = [keep * a + damping * old for a, old in zip(g, s.gbar, strict=True)]
        s.gbar_v = keep * g_v + damping * s.gbar_v
        converged = ~diverged & (res < tol)
        done = diverged | converged
        if it == max_iter:
            done[:] = True
        if done.any():
            rows = s.rows[done]
            m_out[rows] = s.m[done]
            iterations[rows] = it
            residual[rows] = _spin_residual(chain, s.subset(done & ~diverged), field, x_max,
                                            diverged[done])
            status[rows] = status_code(diverged[done], converged[done])
            if done.all():
                break
            s.keep(~done)
    return m_out, iterations, residual, status


def _spin_residual(chain: _Chain, s: _State, field, x_max: float, diverged: np.ndarray):
    """max_i |tanh(B_i) - m_i| of one more undamped step from the rows of ``s``.

    ``diverged`` (n,) marks the finishing rows left out of ``s`` (NaN there);
    a step whose precisions turn non-positive gives NaN too.
    """
    residual = np.full(diverged.shape, np.nan)
    if s.rows.size:
        with np.errstate(all="ignore"):
            m_next, *_, ok = _step(chain, s, field, x_max)
            residual[~diverged] = np.where(ok, np.abs(m_next - s.m).max(axis=1), np.nan)
    return residual


def _validated(features, mixing, beta, m0, field, damping, tol, max_iter):
    """Check the inputs of :func:`solve`; return float64 arrays (m0 None kept)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or 0 in features.shape or not np.all(np.isfinite(features)):
        raise ValueError(
            f"features must be a finite (D, N) array, got shape {features.shape}"
        )
    if isinstance(mixing, np.ndarray) and mixing.ndim == 2:
        mixing = [mixing]
    mixing = [np.asarray(C, dtype=np.float64) for C in mixing]
    if not mixing:
        raise ValueError("mixing must hold at least one (P, D) matrix, top first")
    expected = features.shape[0]
    for level in range(len(mixing) - 1, -1, -1):
        C = mixing[level]
        if C.ndim != 2 or C.shape[1] != expected or not np.all(np.isfinite(C)):
            raise ValueError(
                f"mixing[{level}] must be a finite matrix with {expected} columns (the rows of "
                f"the layer below), got shape {C.shape}"
            )
        expected = C.shape[0]
    N = features.shape[1]
    beta = check_beta(beta)
    if m0 is not None:
        m0 = check_start(m0, beta.size, N)
    field = check_field(field, N)
    check_iteration(damping, tol, max_iter)
    return features, mixing, beta, m0, field
