"""The session record: what was delivered, set by set, and every event, on the stimulus clock.

Times are session seconds (``t_s``, ``started_s``, ``ended_s``): stimulus frames / 48 000, the one
clock of the session. Each set carries ``samples``: the delivered values the engine read from its own
state every 0.25 s (speed, level, carrier, pan depth, target size). ``events`` holds every unlock,
every switch of gentle mode, a rest cut short, clock switches, screen changes and every change of a
clinical setting during a set.

Written as JSON, atomically (a temporary file, fsync, rename, folder fsync), after every set and
every event, to the user's data folder by default (``BLS_DATA_DIR`` overrides it) and to any copies
asked for (``--log FILE.json``). Older records are read and migrated to the current schema; a record
from a newer bls is refused, never rewritten.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import platform
from pathlib import Path

from .. import __version__
from ..core.engine import SAMPLE_RATE, SetResult
from ..core.atomic import atomic_write

SCHEMA_VERSION = 2
UNITS = {"speed": "cycles/s (left-right-left)", "pass": "one sweep from one side to the other",
         "time": "seconds of session time (the audio clock)", "level": "dBFS"}


class RecordError(Exception):
    pass


def _now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _clean(value):
    """JSON-safe: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def set_entry(result: SetResult, unlocked: dict, info: dict | None = None) -> dict:
    """One set of the record, from the engine's result and what the session knows around it."""
    info = info or {}
    samples = [{"t_s": round(d.frame / SAMPLE_RATE, 4), "state": d.state,
                "speed_cycles_per_s": d.speed_cycles_per_s, "level_dbfs": d.level_dbfs,
                "output_dbfs": d.output_dbfs, "carrier_hz": d.carrier_hz, "pan_depth_pct": d.pan_depth_pct,
                "target_diameter_pct": d.target_diameter_pct, "target_visible": d.target_visible,
                "gentle": d.gentle} for d in result.samples]
    return {
        "index": result.index, "preset": result.preset,
        "started_s": round(result.start_frame / SAMPLE_RATE, 4), "ended_s": round(result.end_frame / SAMPLE_RATE, 4),
        "start_frame": result.start_frame, "end_frame": result.end_frame,  # exact, in stimulus frames
        "stop_reason": result.stop_reason, "set_mode": result.set_mode,
        "passes_requested": result.requested_passes, "passes_delivered": result.delivered_passes,
        "seconds_requested": result.requested_seconds, "seconds_delivered": round(result.delivered_seconds, 4),
        "gentle": result.gentle or any(s["gentle"] for s in samples),
        "unlocked": dict(unlocked),
        "samples": samples,
        **{k: info[k] for k in ("client_screen", "refresh_hz", "display", "audio_device", "dropped_frames",
                                "audio_status", "audio_latency_ms", "audio_delay_ms", "visual_angle") if k in info},
    }


class SessionRecord:
    """The record of one session, kept in memory and written after every change."""

    def __init__(self, path: Path | None = None, copies: list[Path] | None = None):
        self.started_at = _now_iso()
        self.path = path  # the record in the data folder (None: not written, e.g. a test)
        self.copies = list(copies or [])  # --log FILE.json
        self.sets: list[dict] = []
        self.events: list[dict] = []
        self.meta: dict = {}
        self.write_errors: list[str] = []

    def event(self, t_s: float, kind: str, **data) -> dict:
        e = {"t_s": round(t_s, 4), "kind": kind, **data}
        self.events.append(e)
        return e

    def add_set(self, entry: dict) -> None:
        self.sets.append(entry)

    def document(self) -> dict:
        return _clean({
            "schema_version": SCHEMA_VERSION, "app": "bls", "version": __version__,
            "started_at": self.started_at, "written_at": _now_iso(), "platform": platform.platform(),
            "sample_rate_hz": SAMPLE_RATE, "units": UNITS, **self.meta,
            "sets": self.sets, "events": self.events,
        })

    def write(self) -> list[str]:
        """Write the record and its copies; returns what could not be written (never raises)."""
        text = json.dumps(self.document(), indent=2, ensure_ascii=False, allow_nan=False)
        errors = []
        for target in ([self.path] if self.path is not None else []) + self.copies:
            try:
                atomic_write(target, text, backup=False, private=True)
            except OSError as exc:
                errors.append(f"{target}: {exc.strerror or exc}")
        self.write_errors = errors
        return errors


def default_record_path(folder: Path, started: _dt.datetime | None = None) -> Path:
    """A new file in ``folder`` named after the session's start, never an existing one."""
    started = started or _dt.datetime.now()
    stem = started.strftime("session-%Y-%m-%d-%H%M%S")
    path, n = folder / f"{stem}.json", 2
    while path.exists():
        path, n = folder / f"{stem}-{n}.json", n + 1
    return path


# --------------------------------------------------------------------------- reading


def _from_v1(doc: dict) -> dict:
    """The session log bls 0.1 wrote (no schema_version): frames and event names, end-of-set values."""
    out = {k: v for k, v in doc.items() if k not in ("sets", "events")}
    rate = doc.get("sample_rate_hz", SAMPLE_RATE) or SAMPLE_RATE
    out["sets"] = []
    for s in doc.get("sets", []):
        n = dict(s)
        n["started_s"] = s.get("start_frame", 0) / rate
        n["ended_s"] = s.get("end_frame", 0) / rate
        n["passes_delivered"] = s.get("delivered_passes")
        n["passes_requested"] = s.get("requested_passes")
        n["seconds_delivered"] = s.get("delivered_seconds")
        n["unlocked"] = {limit: None for limit in s.get("unlocked_limits", [])}  # values were not kept
        n["samples"] = []  # 0.1 kept only the values at the end of each set
        out["sets"].append(n)
    out["events"] = []
    for e in doc.get("events", []):
        n = {k: v for k, v in e.items() if k not in ("event", "frame")}
        n["t_s"] = e.get("frame", 0) / rate
        n["kind"] = e.get("event", "unknown")
        out["events"].append(n)
    out["schema_version"] = 2
    return out


MIGRATIONS = {1: _from_v1}


def read_record(path: Path) -> dict:
    """A session record of any schema this bls knows, migrated to the current one (the file is never
    modified). RecordError says what is wrong."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RecordError(f"{path}: cannot read the record: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: not a bls session record ({exc})") from None
    if not isinstance(doc, dict) or doc.get("app") != "bls":
        raise RecordError(f"{path}: not a bls session record")
    version = doc.get("schema_version", 1)
    if not isinstance(version, int) or version < 1:
        raise RecordError(f"{path}: unknown schema version {version!r}")
    if version > SCHEMA_VERSION:
        raise RecordError(f"{path}: written by a newer bls (record schema {version}; this bls reads up to "
                          f"{SCHEMA_VERSION}): update bls to read it")
    while version < SCHEMA_VERSION:
        doc = MIGRATIONS[version](doc)
        version += 1
    return doc
