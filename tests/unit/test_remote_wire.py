"""bls.remote.wire: the wire form of a snapshot (v1) and the caps the page enforces."""

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

import bls.remote.wire as wire
from bls.core import engine as E
from bls.core import gentle, tone
from bls.core.checks import LEFT_RIGHT
from bls.core.preset import SPEED_MAX, Preset
from bls.core.ramp import Ramp


def _engine_snaps():
    eng = E.StimulusEngine(Preset().with_("audio", tone="pulse", pan_mode="continuous_accents"), max_block=1024)
    seen = {}
    eng.check(LEFT_RIGHT, -20.0)
    for i in range(400):
        if i == 300:
            eng.start()
        eng.process(1024)
        for s in eng.history:
            seen[id(s)] = s
    return eng, list(seen.values())


def test_every_snapshot_is_json_safe_versioned_and_complete():
    eng, snaps = _engine_snaps()
    assert {s.state for s in snaps} >= {"idle", "check", "running"}
    for s in snaps:
        w = wire.snapshot_to_wire(s, eng.feel)
        text = json.dumps(w, allow_nan=False)  # JSON-safe: no NaN, no numpy types
        assert json.loads(text) == w
        assert w["v"] == 1 and w["start"] == s.start and w["state"] == s.state
        for name in ("speed", "shape_mix", "glide", "opacity", "fade", "level", "mute", "depth", "alternate", "carrier",
                     "tone_mix", "look_mix", "accent"):
            r: Ramp = getattr(s, name)
            assert w[name] == [r.start, r.v0, r.v1, r.length, int(r.smooth)]
        assert w["look_to"]["fg"] == list(s.look_to.target) and w["look_to"]["d"] == s.look_to.diameter_pct
        if s.check is not None:
            assert w["check"]["start"] == s.check_start and w["check"]["pan"] == [list(p) for p in s.check.pan.points]
        else:
            assert w["check"] is None


def test_the_pulse_shape_follows_the_feel():
    eng, snaps = _engine_snaps()
    assert wire.snapshot_to_wire(snaps[-1], E.GENTLE)["marks"] == [gentle.ATTACK_S, gentle.PULSE_LENGTH_S,
                                                                    gentle.ACCENT_ATTACK_S, gentle.ACCENT_LENGTH_S]
    assert wire.snapshot_to_wire(snaps[-1], E.GENTLE)["gentle"] is True
    assert wire.snapshot_to_wire(snaps[-1])["marks"][:2] == [E.PULSE_ATTACK_S, E.PULSE_LENGTH_S]


def test_caps_are_read_from_the_python_constants(monkeypatch):
    caps = wire.wire_caps()
    json.dumps(caps, allow_nan=False)
    assert caps["hard"]["speed_max"] == SPEED_MAX == 2.0
    assert caps["hard"]["level_cap_dbfs"] == tone.LEVEL_CAP_DBFS == -12.0
    assert math.isclose(caps["hard"]["level_cap"], 10 ** (-12 / 20))
    assert caps["gentle"]["speed_max"] == gentle.SPEED_MAX
    assert caps["gentle"]["pan_depth_max"] == gentle.PAN_DEPTH_MAX_PCT / 100
    assert caps["sample_rate"] == E.SAMPLE_RATE
    # not copied by hand: a changed constant is what the page is told
    monkeypatch.setattr(gentle, "SPEED_MAX", 0.42)
    monkeypatch.setattr(tone, "LEVEL_CAP_DBFS", -15.0)
    caps = wire.wire_caps()
    assert caps["gentle"]["speed_max"] == 0.42 and caps["hard"]["level_cap_dbfs"] == -15.0


def test_wire_values_are_plain_floats():
    eng, snaps = _engine_snaps()
    w = wire.snapshot_to_wire(snaps[-1])
    assert all(type(v) is float for v in w["speed"][:4]) and not isinstance(w["phase0"], np.floating)


def test_the_wire_module_is_qt_free():
    code = ("import sys, json, bls.remote.wire; print(json.dumps(sorted(n for n in sys.modules "
            "if n.split('.')[0] in ('PySide6', 'shiboken6', 'sounddevice', '_sounddevice') "
            "or n.startswith(('bls.ui', 'bls.app', 'bls.session', 'bls.audio')))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=str(Path(wire.__file__).parents[2]))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_the_feed_sends_the_therapists_unlocks_in_gentle_mode_only():
    from bls.core.engine import StimulusEngine
    from bls.core.gentle import soften
    from bls.core.preset import Preset
    from bls.remote.feed import SnapshotFeed

    gentle = StimulusEngine(soften(Preset().with_(gentle=True)))
    gentle.start()
    gentle.process(512)
    items = SnapshotFeed(gentle, lambda: {"speed": 0.8, "pan_mode": "alternating"}).message(0.0)["items"]
    assert items and all(w["unlocks"] == {"speed": 0.8} for w in items)
    plain = StimulusEngine(Preset())
    plain.start()
    plain.process(512)
    assert all(w["unlocks"] == {} for w in SnapshotFeed(plain, lambda: {"speed": 0.8}).message(0.0)["items"])
