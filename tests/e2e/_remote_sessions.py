"""Scripted sessions of the Python engine for the remote model's agreement tests.

Each session runs the engine offline block by block, posting commands at given frames, and collects
every distinct snapshot ``engine.history`` holds as it goes (with the wire form at the moment it
appears: the feel then), the rendered audio, and the engine itself (its snapshots evaluate positions).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bls.core import engine as E
from bls.core.checks import LEFT_RIGHT
from bls.core.preset import Preset
from bls.remote.wire import snapshot_to_wire

SR = E.SAMPLE_RATE
BLOCK = 512


@dataclass
class Run:
    name: str
    snaps: list = field(default_factory=list)  # Snapshot objects, in the order they appeared
    wire: list = field(default_factory=list)
    audio: np.ndarray | None = None  # n x 2 float32 from frame 0


def _gentle() -> Preset:
    from bls.core.gentle import soften
    return soften(Preset(name="gentle-test").with_(gentle=True))


def _script(name: str):
    """(preset, [(second, action(engine, settings) -> settings)], total seconds)."""
    p = Preset(name=name)
    if name == "standard":  # start, speed change mid-set, pause/resume, stop with glide
        return p, [(0.0, "start"), (2.0, ("motion", {"speed_cycles_per_s": 1.6})), (4.0, "pause"),
                   (5.5, "start"), (7.0, "stop")], 9.5
    if name == "gentle":
        # end-point pulses with gentle mode's slow attack and long decay (the shape comes with the snapshot)
        return _gentle().with_("audio", tone="pulse"), [(0.0, "start"), (3.0, ("audio", {"level_dbfs": -30.0})),
                                                       (6.0, "stop")], 9.5
    if name == "shapes":  # path/profile change, tone change, pan modes, look change, level change
        p = p.with_("motion", speed_cycles_per_s=0.8)
        return p, [(0.0, "start"), (1.5, ("motion", {"path": "diagonal_up", "profile": "linear"})),
                   (2.0, ("audio", {"tone": "warm", "pan_mode": "alternating"})),
                   (3.0, ("visual", {"target_diameter_pct": 9.0, "target_color": "#c8b090"})),
                   (3.5, ("audio", {"pan_mode": "continuous_accents", "level_dbfs": -18.0, "carrier_hz": 300.0})),
                   (4.5, ("motion", {"path": "vertical", "profile": "sinusoidal"})),
                   (5.5, ("audio", {"pan_depth_pct": 60.0})), (7.0, "stop")], 9.0
    if name == "pulses":  # end-point pulses, a set that completes by itself (passes), then idle
        p = p.with_("audio", tone="pulse").with_("motion", set_passes=6, speed_cycles_per_s=1.2)
        return p, [(0.0, "start"), (1.0, ("motion", {"speed_cycles_per_s": 1.0}))], 5.0
    if name == "two_sets":  # accents and pulses over two sets: the end-point tracker starts afresh
        p = p.with_("audio", tone="pulse", pan_mode="continuous_accents").with_("motion", set_passes=4,
                                                                                 speed_cycles_per_s=1.5)
        return p, [(0.0, "start"), (3.2, "start"), (4.5, ("audio", {"tone": "soft_sine"}))], 7.0
    if name == "soften":  # gentle mode switched on mid-set: everything glides inside the envelope
        return p.with_("audio", level_dbfs=-14.0, carrier_hz=600.0), [(0.0, "start"), (2.0, "soften")], 8.0
    if name == "check":  # the left/right headphone check, then a set
        return p, [(0.0, "check"), (5.0, "start")], 7.0
    raise KeyError(name)


SESSIONS = ("standard", "gentle", "shapes", "pulses", "two_sets", "soften", "check")


def run(name: str) -> Run:
    preset, script, seconds = _script(name)
    eng = E.StimulusEngine(preset, max_block=BLOCK)
    settings = eng.settings
    out = Run(name)
    seen: set[int] = set()
    total = int(seconds * SR)
    audio = np.zeros((total, 2), dtype=np.float32)
    todo = sorted(script, key=lambda s: s[0])
    f = 0

    def collect():
        for s in eng.history:
            if id(s) not in seen:
                seen.add(id(s))
                out.snaps.append(s)
                out.wire.append(snapshot_to_wire(s, eng.feel, eng.settings.gentle))

    collect()
    while f < total:
        while todo and todo[0][0] * SR <= f:
            _, act = todo.pop(0)
            if act == "start":
                eng.start()
            elif act == "pause":
                eng.pause()
            elif act == "stop":
                eng.stop()
            elif act == "soften":
                from bls.core.gentle import soften
                settings = soften(settings.with_(gentle=True))
                eng.apply(settings)
            elif act == "check":
                eng.check(LEFT_RIGHT, -20.0)
            else:
                section, changes = act
                settings = settings.with_(section, **changes)
                eng.apply(settings)
        n = min(BLOCK, total - f)
        eng.process(n, audio[f:f + n])
        f += n
        collect()
    out.audio = audio
    return out


def position_table(r: Run, frames: np.ndarray) -> np.ndarray:
    """Python's x, y at each frame: the snapshot covering it (the latest one starting at or before)."""
    starts = np.array([s.start for s in r.snaps])
    res = np.zeros((len(frames), 2))
    for j, fr in enumerate(frames):
        i = int(np.searchsorted(starts, fr, side="right")) - 1
        x, y, _ = r.snaps[max(i, 0)].position(np.array([fr], dtype=np.float64))
        res[j] = (x[0], y[0])
    return res
