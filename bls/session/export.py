"""A session's clinical record for the client's file: CSV for a spreadsheet (no Qt here).

Everything works from the one session dict :meth:`bls.session.store.Records.session` returns (and
:meth:`bls.session.core.SessionCore.clinical_document` returns for the live session, with ``id`` None):
the exports never read the database themselves, so the live session can be exported while the database
is failing. The helpers here (times, ranges, unlocks in words, the medicine before a set) are shared with
the PDF report (:mod:`bls.ui.report`) and ``bls sessions show``, so the three say the same thing.

The CSV: one row per set, UTF-8 with a byte-order mark (so that Excel reads it as UTF-8), a header
row, every field quoted where it needs to be (commas, quotes, line breaks), CRLF line ends. Text that
a spreadsheet would take for a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return) is written with a leading ``'``; numbers are written as plain numbers. Written atomically and
privately (0600): it names a client and what they said.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import math
import os

from ..core.atomic import atomic_write
from ..core.gentle import (CARRIER_MAX_HZ, CONTRAST_MAX, DIAMETER_MIN_PCT, FADE_MIN_S, LEVEL_MAX_DBFS,
                           PAN_DEPTH_MAX_PCT, REST_MIN_S, SOFTNESS_MIN_PCT, SPEED_MAX)

EMPTY = "—"  # an empty field, in the report and on screen (the CSV leaves the cell empty)
PRIVATE_MODE = 0o600

#: a gentle-mode limit the therapist unlocked, in words: label, unit, the limit itself
UNLOCK_WORDS = {
    "speed": ("Speed", "cycles/s", f"at most {SPEED_MAX:g}"),
    "level": ("Level", "dBFS", f"at most {LEVEL_MAX_DBFS:g}"),
    "pan_depth": ("Pan depth", "%", f"at most {PAN_DEPTH_MAX_PCT:g}"),
    "pan_mode": ("Pan mode", "", "continuous"),
    "carrier": ("Tone pitch", "Hz", f"at most {CARRIER_MAX_HZ:g}"),
    "fade_in": ("Fade in", "s", f"at least {FADE_MIN_S:g}"),
    "fade_out": ("Fade out", "s", f"at least {FADE_MIN_S:g}"),
    "rest": ("Rest", "s", f"at least {REST_MIN_S:g}"),
    "target_size": ("Target size", "% of screen height", f"at least {DIAMETER_MIN_PCT:g}"),
    "target_edge": ("Target edge softness", "%", f"at least {SOFTNESS_MIN_PCT:g}"),
    "background": ("Background luminance", "", "dark (at most 0.05)"),
    "contrast": ("Target contrast", ":1", f"at most {CONTRAST_MAX:g}:1"),
}

STOP_WORDS = {"complete": "complete", "time": "complete (time)", "stopped": "stopped early",
              "quit": "ended with the session"}

#: the CSV's columns: (header, how the value is read from a row of :func:`set_rows`)
CSV_COLUMNS = (
    ("Session", "session_id"), ("Session UID", "session_uid"), ("Client code", "client_code"),
    ("Session date", "session_date"), ("Target", "target_n"), ("Target image", "target_image"),
    ("Negative cognition", "target_nc"), ("Positive cognition", "target_pc"), ("Set", "n"),
    ("Started", "started"), ("Ended", "ended"), ("Preset", "preset"), ("Ended how", "ended_how"),
    ("Passes requested", "passes_requested"), ("Passes delivered", "passes_delivered"),
    ("Seconds delivered", "seconds_delivered"),
    ("Speed min (cycles/s)", "speed_min"), ("Speed max (cycles/s)", "speed_max"),
    ("Level min (dBFS)", "level_min"), ("Level max (dBFS)", "level_max"),
    ("Carrier min (Hz)", "carrier_min"), ("Carrier max (Hz)", "carrier_max"),
    ("Target size min (% of screen height)", "target_min"), ("Target size max (% of screen height)", "target_max"),
    ("Tone", "tone"), ("Visual", "visual"), ("Gentle", "gentle"), ("Unlocked", "unlocked"),
    ("SUD", "sud"), ("VOC", "voc"), ("Note", "note"),
    ("Minutes since medicine", "medicine_min"), ("Medicine route", "medicine_route"),
    ("Medicine dose", "medicine_dose"),
)
CSV_HEADER = tuple(h for h, _ in CSV_COLUMNS)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")
_DIGITS = {"passes_delivered": 2, "seconds_delivered": 2, "speed_min": 3, "speed_max": 3, "level_min": 1,
           "level_max": 1, "carrier_min": 1, "carrier_max": 1, "target_min": 2, "target_max": 2,
           "medicine_min": 1}


class ExportError(ValueError):
    """The session cannot be exported as it is (the message says what is missing)."""


# --------------------------------------------------------------------------- shared words


def parse_time(text) -> _dt.datetime | None:
    """An ISO time as recorded (its own UTC offset kept: the clinic's local time), or None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return _dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def clock(text, seconds: bool = True) -> str:
    """The local time of day as recorded ("14:05:09"), or "" when there is none."""
    t = parse_time(text)
    if t is None:
        return ""
    return t.strftime("%H:%M:%S" if seconds else "%H:%M")


def day(text) -> str:
    """The date as recorded, ISO ("2026-03-14"), or ""."""
    t = parse_time(text)
    return t.date().isoformat() if t is not None else ""


def long_day(text) -> str:
    """"Saturday 14 March 2026" (English, whatever the machine's locale), or ""."""
    t = parse_time(text)
    if t is None:
        return ""
    days = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    months = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
              "October", "November", "December")
    return f"{days[t.weekday()]} {t.day} {months[t.month - 1]} {t.year}"


def utc_offset(text) -> str:
    """"UTC+01:00" for the offset a time was recorded with, or ""."""
    t = parse_time(text)
    if t is None or t.utcoffset() is None:
        return ""
    minutes = int(t.utcoffset().total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def time_in_session(text, session_started) -> str:
    """A set's time of day; with its date in front when it is not the session's date (past midnight)."""
    t, s = parse_time(text), parse_time(session_started)
    if t is None:
        return ""
    if s is not None and t.date() != s.date():
        return t.strftime("%Y-%m-%d %H:%M:%S")
    return t.strftime("%H:%M:%S")


def duration(started, ended) -> str:
    """"1 h 05 min", "12 min 30 s", or "" when the session has not ended (or a time is missing)."""
    a, b = parse_time(started), parse_time(ended)
    if a is None or b is None:
        return ""
    s = int(round((b - a).total_seconds()))
    if s < 0:
        return ""
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    if s >= 60:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s} s"


def minutes(value) -> str:
    """Minutes since the medicine as a clinician writes them: whole minutes ("" when none)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return ""
    return str(int(math.floor(value + 0.5)))


def number(value, digits: int = 2) -> str:
    """A recorded number as plain text: at most ``digits`` decimals, no trailing zeros ("24", "12.75",
    "-24"); "" for None, NaN or something that is not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, int):
        return str(value)
    text = f"{round(value, digits):.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def span(lo, hi, digits: int = 2) -> str:
    """"0.5" or "0.45–0.5" (delivered minimum to maximum), or ""."""
    a, b = number(lo, digits), number(hi, digits)
    if not a:
        return b
    if not b or a == b:
        return a
    return f"{a}–{b}"


def fixed(value, digits: int) -> str:
    """A number with exactly ``digits`` decimals, for columns ("0.35", "-30.0"), or "" for none."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    text = f"{value:.{digits}f}"
    return text.lstrip("-") if text.lstrip("-").strip("0.") == "" else text


def fixed_span(lo, hi, digits: int) -> str:
    """"0.35" or "0.35–0.60" (fixed decimals; " to " between negative numbers), or ""."""
    a, b = fixed(lo, digits), fixed(hi, digits)
    if not a or not b or a == b:
        return a or b
    return f"{a}{' to ' if '-' in a + b else '–'}{b}"


def gentle_groups(sets: list[dict]) -> list[tuple[int, int, str]]:
    """The limits unlocked, in words with the limit, as (first set, last set, words) for each run of
    consecutive sets that had the same unlocks."""
    out: list[list] = []
    for x in sets:
        words = unlock_words(x.get("unlocked"), limits=True) if x.get("gentle") else ""
        n = x.get("n")
        if words and out and out[-1][2] == words and isinstance(n, int) and n == out[-1][1] + 1:
            out[-1][1] = n
        elif words and isinstance(n, int):
            out.append([n, n, words])
    return [tuple(g) for g in out]


def yes_no(value) -> str:
    if value is None:
        return ""
    return "yes" if value else "no"


def unlock_words(unlocked, limits: bool = False) -> str:
    """The gentle-mode limits the therapist unlocked for a set, in words: "Speed 0.6 cycles/s; Level -20
    dBFS" (with ``limits``: "Speed 0.6 cycles/s (gentle limit at most 0.5)"); "" when none."""
    if not isinstance(unlocked, dict) or not unlocked:
        return ""
    parts = []
    for key in sorted(unlocked, key=lambda k: (list(UNLOCK_WORDS).index(k) if k in UNLOCK_WORDS else 99, k)):
        value = unlocked[key]
        label, unit, limit = UNLOCK_WORDS.get(key, (str(key).replace("_", " ").capitalize(), "", ""))
        shown = number(value, 3) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)
        text = f"{label} {shown}{unit if unit.startswith(':') else (' ' + unit if unit else '')}"
        if limits and limit:
            text += f" (gentle limit {limit})"
        parts.append(text)
    return "; ".join(parts)


def target_of(session: dict, n) -> dict | None:
    for t in session.get("targets") or []:
        if t.get("n") == n:
            return t
    return None


def medicine_before(session: dict, at) -> dict | None:
    """The latest medicine mark taken at or before ``at`` (an ISO time), or None."""
    when = parse_time(at)
    if when is None:
        return None
    best, best_t = None, None
    for m in session.get("medicine") or []:
        taken = parse_time(m.get("taken_at"))
        try:
            if taken is not None and taken <= when and (best_t is None or taken >= best_t):
                best, best_t = m, taken
        except TypeError:  # a time without an offset against one with: not comparable, not guessed
            continue
    return best


def trend(session: dict) -> list[tuple]:
    """The SUD/VOC course for a plot: (target n, x, SUD, VOC, set n or None) per point, in order of x.
    Each set is at its number; a target's starting values (from the assessment) just before its first
    set: at 0 for a target that begins with set 1, half-way between sets for a later one."""
    sets = session.get("sets") or []
    targets = session.get("targets") or []
    points = [(s.get("target_n"), s.get("n"), s.get("sud"), s.get("voc"), s.get("n"))
              for s in sets if isinstance(s.get("n"), int)]
    for i, t in enumerate(targets):
        if t.get("sud") is None and t.get("voc") is None:
            continue
        own = [s.get("n") for s in sets if s.get("target_n") == t.get("n") and isinstance(s.get("n"), int)]
        if own:
            first = min(own)
            points.append((t.get("n"), 0 if first <= 1 else first - 0.5, t.get("sud"), t.get("voc"), None))
        elif i == 0 and not sets:
            points.append((t.get("n"), 0, t.get("sud"), t.get("voc"), None))
    points.sort(key=lambda p: (p[1], p[4] is not None))
    return points


def set_rows(session: dict) -> list[dict]:
    """One plain row per set, everything resolved: its target's words, the medicine mark before it,
    unlocks in words. Values stay typed (numbers are numbers, None is missing)."""
    if not isinstance(session, dict):
        raise ExportError("not a session record")
    started = session.get("started_at")
    rows = []
    for s in session.get("sets") or []:
        t = target_of(session, s.get("target_n")) or {}
        m = medicine_before(session, s.get("started_at"))
        rows.append({
            "session_id": session.get("id"), "session_uid": session.get("uid") or "",
            "client_code": session.get("client_code") or "", "session_date": day(started),
            "target_n": s.get("target_n"), "target_image": t.get("image") or "", "target_nc": t.get("nc") or "",
            "target_pc": t.get("pc") or "", "n": s.get("n"),
            "started": time_in_session(s.get("started_at"), started),
            "ended": time_in_session(s.get("ended_at"), started),
            "preset": s.get("preset") or "",
            "ended_how": STOP_WORDS.get(s.get("stop_reason"), s.get("stop_reason") or ""),
            **{k: s.get(k) for k in ("passes_requested", "passes_delivered", "seconds_delivered", "speed_min",
                                     "speed_max", "level_min", "level_max", "carrier_min", "carrier_max",
                                     "target_min", "target_max", "sud", "voc", "medicine_min")},
            "tone": yes_no(s.get("tone")), "visual": yes_no(s.get("visual")), "gentle": yes_no(s.get("gentle")),
            "unlocked": unlock_words(s.get("unlocked"), limits=True), "note": s.get("note") or "",
            "medicine_route": (m or {}).get("route") or "", "medicine_dose": (m or {}).get("dose") or "",
        })
    return rows


# --------------------------------------------------------------------------- CSV


def _cell(key: str, value) -> str:
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return number(value, _DIGITS.get(key, 3))
    text = str(value)
    if text.startswith(_FORMULA_START):
        return "'" + text  # a spreadsheet shows the text, never runs it
    return text


def csv_text(session: dict) -> str:
    """The session's sets as CSV text (header first, one row per set, CRLF line ends), without the
    byte-order mark :func:`write_csv` puts in front. A session without sets gives the header only."""
    out = io.StringIO(newline="")
    w = csv.writer(out, dialect="excel", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    w.writerow(CSV_HEADER)
    for row in set_rows(session):
        w.writerow([_cell(key, row.get(key)) for _, key in CSV_COLUMNS])
    return out.getvalue()


def write_csv(session: dict, path: str | os.PathLike) -> None:
    """Write the session's CSV to ``path`` (UTF-8 with a BOM), atomically and readable by the user only
    (0600, also when it replaces a file). Only a regular file is ever replaced: a link, a folder or a
    device there is refused with :class:`bls.core.atomic.WriteRefused` (an OSError saying why)."""
    text = "\ufeff" + csv_text(session)
    atomic_write(path, text, private=True, mode=PRIVATE_MODE, make_dirs=False)


# --------------------------------------------------------------------------- plain text (bls sessions show)


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """Columns padded to their widest cell; the last column is left as long as it is (it may wrap)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    out = []
    for cells in [headers] + rows:
        parts = []
        for i, c in enumerate(cells):
            if i == len(cells) - 1:
                parts.append(c)
            else:
                parts.append(c.rjust(widths[i]) if i in right else c.ljust(widths[i]))
        out.append("  ".join(parts).rstrip())
    return out


def session_text(session: dict) -> str:
    """The session as readable text: who and when, the target(s), medicine, a table of sets (every note
    in full), the limits unlocked. Empty fields are shown as "—"."""
    from .clinical import TARGET_LABELS  # noqa: PLC0415

    s = session
    dash = EMPTY
    sets = s.get("sets") or []
    lines = []
    head = "EMDR session record — " + (f"session {s['id']}" if s.get("id") is not None else "the session as it runs")
    n_gentle = sum(1 for x in sets if x.get("gentle"))
    lines += [head, ""]
    start, end = clock(s.get("started_at")), clock(s.get("ended_at"))
    when = f"{start}–{end}" if end else f"from {start or dash} (in progress)"
    if utc_offset(s.get("started_at")):
        when += f" ({utc_offset(s.get('started_at'))})"
    dur = duration(s.get("started_at"), s.get("ended_at"))
    facts = [("Client", s.get("client_code") or dash), ("Date", long_day(s.get("started_at")) or dash),
             ("Time", when + (f", {dur}" if dur else "")),
             ("Sets", str(len(sets)) + ("" if not n_gentle else " (all in gentle mode)" if n_gentle == len(sets)
                                         else f" ({n_gentle} in gentle mode)")),
             ("Recorded with", f"bls {s.get('app_version')}" if s.get("app_version") else dash),
             ("Session uid", s.get("uid") or dash)]
    lines += [f"{k:<15}{v}" for k, v in facts]
    labels = dict(TARGET_LABELS, nc="Negative cognition (NC)", pc="Positive cognition (PC)",
                  voc="VOC at assessment (1–7)", sud="SUD at assessment (0–10)")
    targets = s.get("targets") or []
    if not targets:
        lines += ["", "Target", "  No target was recorded for this session."]
    for t in targets:
        lines += ["", "Target" if len(targets) == 1 else f"Target {t.get('n')}"]
        for key in ("image", "nc", "pc", "voc", "emotions", "sud", "body"):
            v = t.get(key)
            v = number(v) if key in ("voc", "sud") else (v or "")
            lines.append(f"  {labels[key]:<26}{v or dash}")
    lines += ["", "Medicine (as recorded by the therapist; bls does not advise on medicine)"]
    med = s.get("medicine") or []
    if not med:
        lines.append("  No medicine was marked in this session.")
    for m in med:
        lines.append(f"  taken at {time_in_session(m.get('taken_at'), s.get('started_at')) or dash}  "
                     f"route: {m.get('route') or dash}  dose: {m.get('dose') or dash}")
    lines += ["", "Sets (passes, seconds, speed and level as delivered by the stimulus engine)"]
    if not sets:
        lines.append("  No set was run in this session.")
        return "\n".join(lines) + "\n"
    several = len(targets) > 1
    rows = []
    for x in sets:
        gentle = "" if x.get("gentle") is None else ("on" if x.get("gentle") else "off")
        if x.get("gentle") and unlock_words(x.get("unlocked")):
            gentle += "*"
        passes = number(x.get("passes_delivered"), 1)
        if passes and isinstance(x.get("passes_requested"), int) and number(x.get("passes_requested"), 1) != passes:
            passes += f" of {x.get('passes_requested')}"
        if x.get("stop_reason") == "stopped":
            passes += ", stopped"
        row = [number(x.get("n")) or dash, time_in_session(x.get("started_at"), s.get("started_at")) or dash]
        if several:
            row.append(str(x.get("target_n") if x.get("target_n") is not None else dash))
        row += [passes or dash, fixed(x.get("seconds_delivered"), 1) or dash,
                fixed_span(x.get("speed_min"), x.get("speed_max"), 2) or dash,
                fixed_span(x.get("level_min"), x.get("level_max"), 1) or dash, gentle or dash,
                number(x.get("sud")) or dash, number(x.get("voc")) or dash,
                minutes(x.get("medicine_min")) or dash, x.get("note") or dash]
        rows.append(row)
    headers = ["Set", "Started"] + (["Target"] if several else []) + [
        "Passes", "Seconds", "Speed c/s", "Level dBFS", "Gentle", "SUD", "VOC", "Since medicine (min)", "Note"]
    right = {i for i, h in enumerate(headers) if h not in ("Started", "Gentle", "Note", "SUD", "VOC")}
    lines += ["  " + line for line in _table(headers, rows, right=right)]
    groups = gentle_groups(sets)
    if groups:
        lines.append("")
        for first, last, words in groups:
            which = f"set {first}" if first == last else f"sets {first}–{last}"
            lines.append(f"  * {which}: the therapist unlocked {words}")
    return "\n".join(lines) + "\n"
