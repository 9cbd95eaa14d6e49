"""The shape of a real organisation's history, for worlds that must look like a year in production.

A uniform world (every lead with the same number of events, all within 20 days) hides what a
deployment meets after a year: most leads say little (one to three events, soon after they arrive),
some never do anything (no events, ``lastActivityAt`` null), a few talk for months and reach
thousands of events, and leads are deleted along the way. Costs that grow with the size of history,
with the longest lead or with the number of days only show on such a world.

This module only plans: which lead is born, acts and is deleted when, as fractions of the history
span. The World carries the plan out with its own clock and content, so the same seed gives the
same organisation.
"""

from __future__ import annotations

import math
import random
from typing import Final, Literal, NamedTuple


class PlannedOp(NamedTuple):
    """One thing that happens to lead ``lead`` (an index) at ``at``, a fraction of the span.
    ``number`` orders a lead's operations at one instant: -1 its creation, 0..n-1 its n events, n
    its soft delete."""

    at: float
    lead: int
    number: int
    kind: Literal["create", "event", "delete"]


SILENT_SHARE: Final = 0.05
"""Leads that never had an event."""
CHATTY_SHARE: Final = 0.005
"""Leads with thousands of events (at least one lead): they hold what the others leave of the
total."""
BRIEF_SHARE: Final = 0.70
"""Leads with one to three events; the rest have a few to a few hundred (log-normal)."""
DELETED_SHARE: Final = 0.02
"""Leads soft-deleted some time after their last event."""
RUNNING_TOOL_CALLS: Final = 0.3
"""Tool calls that start RUNNING and finish later (calls start IN_PROGRESS as in any world)."""

_CHATTY_BORN_BEFORE: Final = 0.25
"""Chatty leads arrive in the first quarter, so their activity spans most of the history."""
_BORN_BEFORE: Final = 0.98
_DAYS_ACTIVE_PER_EVENT: Final = 3.0
"""A lead with n events is active for about 3n days after it arrives (chatty leads: to the end)."""


def plan(rng: random.Random, leads: int, mean: int, span_days: float) -> list[PlannedOp]:
    """Every creation, event and soft delete of the history, in the order they happen."""
    counts, chatty = _events_per_lead(rng, leads, mean)
    ops: list[PlannedOp] = []
    last_seen: list[float] = []
    for index, count in enumerate(counts):
        born = rng.random() * (_CHATTY_BORN_BEFORE if index in chatty else _BORN_BEFORE)
        active = (1 - born) if index in chatty else _DAYS_ACTIVE_PER_EVENT * count / span_days
        window = min(1 - born, active)
        moments = [born + rng.random() * window for _ in range(count)]
        ops.append(PlannedOp(born, index, -1, "create"))
        ops.extend(PlannedOp(at, index, number, "event") for number, at in enumerate(moments))
        last_seen.append(max(moments, default=born))
    for index in rng.sample(range(leads), round(leads * DELETED_SHARE)):
        last = last_seen[index]
        ops.append(PlannedOp(last + rng.random() * (1 - last), index, counts[index], "delete"))
    ops.sort()
    return ops


def _events_per_lead(rng: random.Random, leads: int, mean: int) -> tuple[list[int], set[int]]:
    """Heavy-tailed event counts and the chatty leads among them. The total is ``leads * mean``
    for a mean of at least 3 (below, it is what the brief and regular leads drew)."""
    counts = [0] * leads
    if not leads:
        return counts, set()
    silent = round(leads * SILENT_SHARE)
    chatty = silent + max(1, round(leads * CHATTY_SHARE))
    brief = chatty + round(leads * BRIEF_SHARE)
    order = rng.sample(range(leads), leads)
    mu = math.log(max(mean, 3) / 3)
    for index in order[brief:]:
        counts[index] = 4 + int(rng.lognormvariate(mu, 1.0))
    for index in order[chatty:brief]:
        counts[index] = rng.randint(1, 3)
    chatty_leads = order[silent:chatty]
    remainder = max(0, leads * mean - sum(counts))
    weights = [rng.lognormvariate(0.0, 0.6) for _ in chatty_leads]
    shares = [int(remainder * weight / sum(weights)) for weight in weights]
    shares[0] += remainder - sum(shares)
    for index, share in zip(chatty_leads, shares, strict=True):
        counts[index] = share
    return counts, set(chatty_leads)
