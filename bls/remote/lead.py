"""How far behind the therapist's clock the client's page plays (the lead), from the round-trip times
measured (Qt-free, standard library only).

A snapshot the therapist's engine publishes at stimulus frame F must reach the page before the page
plays F, or the page holds the target until it comes (never a jump back). It travels one way (about
half the round trip), waits up to one pump period (20 ms) to be sent, and meets the network's jitter.
The lead is the 90th percentile of the recent round trips (a whole round trip: more than the one-way
trip and its usual jitter) plus a margin for the pump, the page's frame and a late packet, rounded up
to 10 ms and kept between :data:`LEAD_MIN_MS` and :data:`LEAD_MAX_MS`. Before :data:`MIN_SAMPLES` round
trips are known, the default lead (250 ms, :data:`bls.remote.protocol.DEFAULT_LEAD_MS`) holds. A new lead
is proposed only when it differs enough from the current one (:func:`worth_changing`); the page takes
it up at its next moment without a set.
"""

from __future__ import annotations

import math

LEAD_MIN_MS = 150.0
LEAD_MAX_MS = 2000.0
MARGIN_MS = 100.0
MIN_SAMPLES = 5
WINDOW = 30  # round trips kept (one a second: the last half minute)


def recommended_lead_ms(rtts_ms) -> float | None:
    """The lead for these round trips (ms), or None when fewer than MIN_SAMPLES are known."""
    rtts = sorted(float(r) for r in rtts_ms if math.isfinite(r) and r >= 0)
    if len(rtts) < MIN_SAMPLES:
        return None
    p90 = rtts[math.ceil(0.9 * len(rtts)) - 1]
    lead = math.ceil((p90 + MARGIN_MS) / 10.0) * 10.0
    return min(LEAD_MAX_MS, max(LEAD_MIN_MS, lead))


def worth_changing(current_ms: float, proposed_ms: float | None) -> bool:
    """A change of at least 30 ms and 20 % of the current lead (no back and forth on every ping)."""
    if proposed_ms is None:
        return False
    step = abs(proposed_ms - current_ms)
    return step >= 30.0 and step >= 0.2 * current_ms
