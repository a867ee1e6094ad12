"""The stimulus on the wire: one :class:`~bls.core.engine.Snapshot` as JSON, and the caps the page enforces.

Qt-free. ``snapshot_to_wire(snap)`` describes one snapshot completely enough for ``web/model.js`` to
evaluate, with the engine's own formulas, the position (x, y, s), the opacity and look, and the tone
(waveform, carrier phase, level with fades and mute, the pan law with depth and alternation, end-point
pulses and accents, the headphone check programs). ``wire_caps()`` gives the hard caps and the gentle
envelope the page checks every snapshot against itself (``validate`` in ``model.js``), read from the
Python constants.

Wire format, version 1 (``"v": 1``). A *ramp* is ``[start, v0, v1, length, smooth]`` (frames at 48 kHz,
``smooth`` 0 linear / 1 raised cosine; :class:`bls.core.ramp.Ramp`). A *look* is ``{"d": diameter % of
the screen height, "soft": 0..1, "fg": [r, g, b], "bg": [r, g, b], "sweep": 0..1, "vis": 0..1}`` (sRGB
0..1). A *curve* is ``[[t_s, value], ...]`` (:class:`bls.core.checks.Curve`).

=================  =========================================================================
key                meaning
=================  =========================================================================
v                  1 (the wire version; the page refuses any other)
start              first frame the snapshot covers (int); a later snapshot at the same frame
                   supersedes an earlier one
state              "idle" | "running" | "paused" | "stopping" | "gliding" | "check"
gentle             true when the engine plays gentle mode (the page then enforces the envelope)
phase0             the target's phase (cycles) at ``start``
speed              ramp, cycles/s; the phase is its integral (linear ramps only)
path, profile      the shape now; ``prev_path``, ``prev_profile`` the shape crossfaded from
shape_mix          ramp 0..1 (prev shape -> shape)
glide, glide_from  ramp 0..1 and [x, y, s] of the glide to the centre (state "gliding")
opacity            ramp 0..1 (x the look's ``vis``)
fade, mute, level  ramps; level is linear amplitude (<= 10^(-12/20))
depth, alternate   ramps: pan depth 0..1, 0 continuous .. 1 alternating
carrier            ramp, Hz; ``carrier_phase0`` the carrier phase (cycles) at ``start``
tone, prev_tone    "soft_sine" | "warm" | "pulse"; ``tone_mix`` ramp 0..1 (prev -> tone)
look_from, look_to looks; ``look_mix`` ramp 0..1
accent             ramp: the accent swell's extra amplitude, share of the level (0: none)
marks              [pulse_attack_s, pulse_length_s, accent_attack_s, accent_length_s]: the shape
                   of an end-point pulse or accent that starts under this snapshot (the engine's
                   feel: normal or gentle)
check              null, or {"kind", "start" (frame), "pan": curve, "envelope": curve,
                   "phases": [[t_s, name], ...], "duration_s"}
unlocks            {limit: value}: the gentle limits the therapist confirmed past (``UNLOCKABLE``,
                   core.gentle's units); the page widens its gentle envelope to them, never a hard cap
=================  =========================================================================

The message the transport sends is ``{"type": "snapshots", "items": [snapshot_to_wire(s), ...]}`` (plus
the therapist's current frame); the page keeps its own bounded history. The audio-delay calibration
(:mod:`bls.core.avdelay`) is not a snapshot and is not carried: it belongs to the room's own display.
"""

from __future__ import annotations

import math

from bls.core import engine as _engine
from bls.core import gentle, motion, photosafe, tone
from bls.core import preset as _preset
from bls.core.checks import CheckProgram, Curve
from bls.core.look import Look
from bls.core.ramp import Ramp

WIRE_VERSION = 1


def _ramp(r: Ramp) -> list:
    return [float(r.start), float(r.v0), float(r.v1), float(r.length), 1 if r.smooth else 0]


def _look(k: Look) -> dict:
    return {"d": float(k.diameter_pct), "soft": float(k.softness), "fg": [float(c) for c in k.target],
            "bg": [float(c) for c in k.background], "sweep": float(k.sweep), "vis": float(k.visibility)}


def _curve(c: Curve) -> list:
    return [[float(t), float(v)] for t, v in c.points]


def _check(p: CheckProgram | None, start: int) -> dict | None:
    if p is None:
        return None
    return {"kind": p.kind, "start": int(start), "pan": _curve(p.pan), "envelope": _curve(p.envelope),
            "phases": [[float(t), str(n)] for t, n in p.phases], "duration_s": float(p.duration_s)}


#: the gentle limits a therapist can unlock that the page checks, in the units of core.gentle's unlocks
#: (speed cycles/s, level dBFS, pan depth %, carrier Hz, target size % and edge %, background luminance,
#: contrast ratio)
UNLOCKABLE = ("speed", "level", "pan_depth", "carrier", "target_size", "target_edge", "background", "contrast")


def wire_unlocks(unlocks) -> dict:
    """The therapist's confirmed gentle-mode unlocks the page widens its envelope by (numbers only; a
    hard cap is never widened: the page checks those apart)."""
    return {k: float(v) for k, v in (unlocks or {}).items()
            if k in UNLOCKABLE and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def snapshot_to_wire(snap: _engine.Snapshot, feel: _engine.Feel | None = None, gentle_on: bool | None = None,
                     unlocks=None) -> dict:
    """One snapshot as a JSON-safe dict (wire version 1; the table in this module's docstring).

    ``feel`` is the engine's feel when the snapshot was made (``engine.feel``: the shape of the pulses
    and accents that start under it); ``gentle_on`` whether gentle mode is on (default: ``feel`` is the
    gentle feel); ``unlocks`` the gentle limits the therapist unlocked (``SessionCore.unlocks``)."""
    feel = _engine.NORMAL if feel is None else feel
    if gentle_on is None:
        gentle_on = feel is _engine.GENTLE
    return {
        "v": WIRE_VERSION, "start": int(snap.start), "state": snap.state, "gentle": bool(gentle_on),
        "phase0": float(snap.phase0), "speed": _ramp(snap.speed),
        "path": snap.path, "profile": snap.profile, "prev_path": snap.prev_path, "prev_profile": snap.prev_profile,
        "shape_mix": _ramp(snap.shape_mix), "glide": _ramp(snap.glide), "glide_from": [float(v) for v in snap.glide_from],
        "opacity": _ramp(snap.opacity), "fade": _ramp(snap.fade), "level": _ramp(snap.level), "mute": _ramp(snap.mute),
        "depth": _ramp(snap.depth), "alternate": _ramp(snap.alternate), "carrier": _ramp(snap.carrier),
        "carrier_phase0": float(snap.carrier_phase0), "tone": snap.tone, "prev_tone": snap.prev_tone,
        "tone_mix": _ramp(snap.tone_mix), "look_from": _look(snap.look_from), "look_to": _look(snap.look_to),
        "look_mix": _ramp(snap.look_mix), "accent": _ramp(snap.accent),
        "marks": [float(feel.pulse_attack), float(feel.pulse_length), float(feel.accent_attack), float(feel.accent_length)],
        "check": _check(snap.check, snap.check_start),
        "unlocks": wire_unlocks(unlocks) if gentle_on else {},
    }


def wire_caps() -> dict:
    """The hard caps and the gentle envelope the page enforces on every snapshot, and the constants of
    the model it needs (all read from the Python modules, never written twice)."""
    return {
        "v": WIRE_VERSION,
        "sample_rate": _engine.SAMPLE_RATE,
        "hard": {
            "speed_max": _preset.SPEED_MAX,
            "level_cap_dbfs": tone.LEVEL_CAP_DBFS,
            "level_cap": tone.LEVEL_CAP,
            "carrier_min_hz": tone.CARRIER_MIN_HZ,
            "carrier_max_hz": tone.CARRIER_MAX_HZ,
            "accent_db_max": tone.ACCENT_DB,
            "min_ramp_s": 0.005,  # every audible change takes at least 5 ms (engine docstring)
            "photosafe": {"max_luminance_slew": photosafe.MAX_LUMINANCE_SLEW, "max_red_slew": photosafe.MAX_RED_SLEW,
                          "aspect": photosafe.ASPECT, "steps": photosafe._STEPS, "ease_peak": photosafe._EASE_PEAK,
                          "margin": photosafe._MARGIN},
        },
        "gentle": {
            "speed_max": gentle.SPEED_MAX,
            "speed_slew": gentle.SPEED_SLEW,
            "soften_s": _engine.SOFTEN_S,
            "level_max_dbfs": gentle.LEVEL_MAX_DBFS,
            "level_max": 10.0 ** (gentle.LEVEL_MAX_DBFS / 20.0),
            "pan_depth_max": gentle.PAN_DEPTH_MAX_PCT / 100.0,
            "carrier_max_hz": gentle.CARRIER_MAX_HZ,
            "diameter_min_pct": gentle.DIAMETER_MIN_PCT,
            "softness_min": gentle.SOFTNESS_MIN_PCT / 100.0,
            "contrast_max": gentle.CONTRAST_MAX,
            "background_luminance_max": gentle.BACKGROUND_LUMINANCE_MAX,
            "accent_db": gentle.ACCENT_DB,
        },
        "model": {
            "linear_ease_cycles": motion.LINEAR_EASE_CYCLES,
            "alternate_zone": tone.ALTERNATE_ZONE,
            "warm_harmonics": [[k, a] for k, a in tone._WARM_HARMONICS],
            "warm_norm": tone._WARM_NORM,
        },
    }
