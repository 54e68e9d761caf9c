"""A campaign's budget: the words for it and when it is spent (docs/costs.md, "Budget").

The engine checks it per claim (``dispatch/budget.py``); a campaign it paused resumes only once its
budget has room again (raised, or removed).
"""

from __future__ import annotations

# The ``status_reason`` of a campaign paused at its budget.
BUDGET_REACHED = "budget reached"
# Prices are floats: a sum equal to the budget may round a hair above it.
EPSILON = 1e-9


def is_spent(*, budget: float | None, committed: float) -> bool:
    """Nothing more can be sent: the forecast cost of what left already reaches the budget."""
    return budget is not None and committed >= budget - EPSILON
