"""PLACEHOLDER (branch wt-server only): the stimulus side owns this module and replaces it at merge.

Only the two names the transport needs, kept small: ``snapshot_to_wire`` (a Snapshot as JSON-safe
data, versioned) and ``wire_caps`` (the hard caps the page enforces).
"""

from __future__ import annotations

import dataclasses
import math

from ..core import gentle
from ..core.preset import SPEED_MAX
from ..core.tone import LEVEL_CAP_DBFS

WIRE_VERSION = 1


def _plain(v):
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (bool, int, str)) or v is None:
        return v
    return repr(v)


def snapshot_to_wire(snap) -> dict:
    d = {k: _plain(getattr(snap, k)) for k in ("start", "state", "phase0", "speed", "path", "profile", "level",
                                                "fade", "opacity", "depth", "carrier", "carrier_phase0", "tone")}
    return {"wv": WIRE_VERSION, **d}


def wire_caps() -> dict:
    return {"wv": WIRE_VERSION, "speed_max": SPEED_MAX, "level_cap_dbfs": LEVEL_CAP_DBFS,
            "gentle_speed_max": gentle.SPEED_MAX, "gentle_level_max_dbfs": gentle.LEVEL_MAX_DBFS}
