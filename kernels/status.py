"""Status codes of one (point, temperature): the single owner of their values and names.

The solvers set CONVERGED, NOT_CONVERGED, DIVERGED and INVALID; the sweep engine
adds PENDING (not computed yet) and FAILED (its task raised). The store writes
these codes as CF flags (``flag_values`` / ``flag_meanings``) in this order.

CONVERGED
    The method's fixed-point equations hold at the returned state (residual
    <= 10 tol) and the state lies inside the method's domain.
NOT_CONVERGED
    The iteration budget ran out, or the iteration was stopped as hopeless.
DIVERGED
    The iteration blew up (non-finite or runaway values).
INVALID
    The equations hold, but the state lies outside the method's domain (for
    TAP/AMP and relaxed BP x = beta (1 - q) >= x_e, e.g. the paramagnet below
    T_g): it is not a state of the approximation.
"""

from __future__ import annotations

PENDING = 0
CONVERGED = 1
NOT_CONVERGED = 2
DIVERGED = 3
FAILED = 4
INVALID = 5

#: Code -> CF flag meaning, in code order.
STATUS_MEANINGS: dict[int, str] = {
    PENDING: "pending",
    CONVERGED: "converged",
    NOT_CONVERGED: "not_converged",
    DIVERGED: "diverged",
    FAILED: "failed",
    INVALID: "invalid",
}
