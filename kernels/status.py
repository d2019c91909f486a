"""Status codes of one (point, temperature): the single owner of their values and names.

The solvers set CONVERGED, NOT_CONVERGED, DIVERGED and INVALID; the sweep engine
adds PENDING (not computed yet) and FAILED (its task raised). The store writes
these codes as CF flags (``flag_values`` / ``flag_meanings``) in this order.
A separate set, ``TRANSITION_*`` at the end of this module, labels located
transitions (transition mode); the two sets never share a variable.

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


# --- Transition statuses (a separate set) ------------------------------------
#
# Status of one located transition (one sample: algorithm, N, alpha or T, seed)
# in transition mode (:mod:`kernels.transition`). These codes are NOT point
# codes: they label a different variable and never mix with the codes above.
# The kernels set LOCATED, NOT_MONOTONE, LOWER_BOUND and UPPER_BOUND; the sweep
# engine adds PENDING and FAILED.
#
# TRANSITION_LOCATED
#     Retrieval at the bracket's low end, none at its high end, and every round
#     retrieved on a prefix of its points: the estimate lies in [lo, hi] with
#     hi - lo <= precision.
# TRANSITION_NOT_MONOTONE
#     Some round found retrieval at a higher temperature (load) and none at a
#     lower one. The K-section went on towards the largest retrieving point (the
#     definition of T_M and alpha_c), so the estimate is that supremum as far as
#     the rounds could see; analyses decide whether to use it.
# TRANSITION_LOWER_BOUND
#     Retrieval even at the bracket's high end: the transition lies above it,
#     so the high end is a lower bound (estimate NaN, lo = the high end).
# TRANSITION_UPPER_BOUND
#     No retrieval even at the bracket's low end: the transition lies below it
#     (estimate NaN, hi = the low end).

# PENDING and FAILED keep the values of the point codes, so the engine's resume
# and failure bookkeeping (status == PENDING, status == FAILED) serves both kinds
# of store unchanged.
TRANSITION_PENDING = PENDING
TRANSITION_LOCATED = 1
TRANSITION_NOT_MONOTONE = 2
TRANSITION_LOWER_BOUND = 3
TRANSITION_FAILED = FAILED
TRANSITION_UPPER_BOUND = 5

#: Transition code -> CF flag meaning, in code order.
TRANSITION_MEANINGS: dict[int, str] = {
    TRANSITION_PENDING: "pending",
    TRANSITION_LOCATED: "located",
    TRANSITION_NOT_MONOTONE: "not_monotone",
    TRANSITION_LOWER_BOUND: "lower_bound",
    TRANSITION_FAILED: "failed",
    TRANSITION_UPPER_BOUND: "upper_bound",
}
