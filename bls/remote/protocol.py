"""The remote client's messages: a JSON envelope with a schema version, size-limited, validated on both
ends (``web/page.js`` checks the same rules). Qt-free, standard library only.

Every message is a JSON object ``{"v": 1, "type": TYPE, ...}`` of at most :data:`MAX_BYTES` bytes.

server → client
  ``welcome``   state (the session's state: ``set_state``, ``set_index``, ``gentle``), caps (from
                ``wire.wire_caps()``), lead_ms (how far ahead of its clock the page plays), sample_rate
  ``snapshots`` items (``wire.snapshot_to_wire`` of each new snapshot, oldest first), now_frame (the
                therapist's stimulus frame when sent), sent_ms (the server's monotonic clock, ms)
  ``ping``      id, sent_ms (echoed in ``pong``: the round-trip time)
  ``lead``      lead_ms: the lead that suits the round-trip times measured (:mod:`bls.remote.lead`);
                the page takes it up at its next moment without a set, never during one
  ``bye``       reason (the session ended / the therapist's app quit: the page fades and says so)
  ``error``     problems (what was wrong with the client's last message)
relay → therapist (through ``bls relay``: what the client sends, and)
  ``peer``      event ("joined": a client connected, greet it with ``welcome`` and the history;
                "left": it went)
client → server
  ``hello``     screen {w, h, dpr}, audio ("none", "suspended", "running")
  ``pong``      id, sent_ms (echoed)
  ``status``    sound (bool), av_offset_ms (number or null), dropped_frames, frame (stimulus frame now,
                or null)

Only stimulus parameters and timing cross the network: no names, notes, SUD/VOC or targets.
"""

from __future__ import annotations

import json
import math

SCHEMA = 1
MAX_BYTES = 64 * 1024
SAMPLE_RATE = 48_000
DEFAULT_LEAD_MS = 250.0
MAX_ITEMS = 64  # snapshots in one message (the engine's history holds ~2 s of them)

SERVER_TYPES = ("welcome", "snapshots", "ping", "lead", "bye", "error")
CLIENT_TYPES = ("hello", "pong", "status")
RELAY_TYPES = CLIENT_TYPES + ("peer",)  # what a relay sends the therapist's app
PEER_EVENTS = ("joined", "left")
AUDIO_STATES = ("none", "suspended", "running", "closed")


class ProtocolError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


# field -> (kind, required); kinds: "num" (finite), "int" (>= 0), "bool", "str", "obj", "list", "num?" (or null)
_FIELDS: dict[str, dict[str, tuple[str, bool]]] = {
    "welcome": {"state": ("obj", True), "caps": ("obj", True), "lead_ms": ("num", True),
                "sample_rate": ("int", True)},
    "snapshots": {"items": ("list", True), "now_frame": ("int", True), "sent_ms": ("num", True)},
    "ping": {"id": ("int", True), "sent_ms": ("num", True)},
    "lead": {"lead_ms": ("num", True)},
    "bye": {"reason": ("str", True)},
    "error": {"problems": ("list", True)},
    "hello": {"screen": ("obj", True), "audio": ("str", True)},
    "pong": {"id": ("int", True), "sent_ms": ("num", True)},
    "peer": {"event": ("str", True)},
    "status": {"sound": ("bool", True), "av_offset_ms": ("num?", True), "dropped_frames": ("int", True),
               "frame": ("num?", True)},
}
STR_MAX = 200


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _kind_problem(name: str, kind: str, v) -> str | None:
    ok = {"num": _num(v), "num?": v is None or _num(v),
          "int": isinstance(v, int) and not isinstance(v, bool) and v >= 0,
          "bool": isinstance(v, bool), "str": isinstance(v, str) and len(v) <= STR_MAX,
          "obj": isinstance(v, dict), "list": isinstance(v, list)}[kind]
    if ok:
        return None
    want = {"num": "a finite number", "num?": "a finite number or null", "int": "a whole number, 0 or more",
            "bool": "true or false", "str": f"text of at most {STR_MAX} characters", "obj": "an object",
            "list": "a list"}[kind]
    shown = repr(v)
    return f"{name}: {shown[:40]}{'…' if len(shown) > 40 else ''} is not {want}"


def validate(msg, sender: str) -> list[str]:
    """Every problem with ``msg`` (a decoded JSON value) sent by ``sender`` ("server", "client" or
    "relay"); an empty list when it is a valid message."""
    if not isinstance(msg, dict):
        return ["a message is a JSON object"]
    problems = []
    if msg.get("v") != SCHEMA:
        problems.append(f"v: {msg.get('v')!r} is not schema version {SCHEMA}")
    types = {"server": SERVER_TYPES, "client": CLIENT_TYPES, "relay": RELAY_TYPES}[sender]
    t = msg.get("type")
    if t not in types:
        problems.append(f"type: {t!r} is not one of: {', '.join(types)} (from the {sender})")
        return problems
    spec = _FIELDS[t]
    for name, (kind, required) in spec.items():
        if name not in msg:
            if required:
                problems.append(f"{t}: {name} is missing")
            continue
        p = _kind_problem(f"{t}.{name}", kind, msg[name])
        if p:
            problems.append(p)
    for name in msg:
        if name not in spec and name not in ("v", "type"):
            problems.append(f"{t}: unknown field {name!r}")
    if t == "snapshots" and isinstance(msg.get("items"), list):
        if len(msg["items"]) > MAX_ITEMS:
            problems.append(f"snapshots.items: {len(msg['items'])} items, at most {MAX_ITEMS}")
        for i, item in enumerate(msg["items"][:MAX_ITEMS]):
            if not isinstance(item, dict) or not isinstance(item.get("start"), int) or isinstance(item.get("start"), bool):
                problems.append(f"snapshots.items[{i}]: not a snapshot (an object with a whole-number start)")
    if t == "hello" and isinstance(msg.get("screen"), dict):
        s = msg["screen"]
        for k, hi in (("w", 100_000), ("h", 100_000), ("dpr", 16)):
            v = s.get(k)
            if not _num(v) or not 0 < v <= hi:
                problems.append(f"hello.screen.{k}: {v!r} is not a number above 0 and at most {hi}")
        extra = sorted(set(s) - {"w", "h", "dpr"})
        if extra:
            problems.append(f"hello.screen: unknown field(s) {', '.join(map(repr, extra))}")
    if t == "hello" and isinstance(msg.get("audio"), str) and msg["audio"] not in AUDIO_STATES:
        problems.append(f"hello.audio: {msg['audio']!r} is not one of: {', '.join(AUDIO_STATES)}")
    if t == "status" and _num(msg.get("av_offset_ms")) and abs(msg["av_offset_ms"]) > 60_000:
        problems.append("status.av_offset_ms: beyond ±60 s")
    if t == "peer" and isinstance(msg.get("event"), str) and msg["event"] not in PEER_EVENTS:
        problems.append(f"peer.event: {msg['event']!r} is not one of: {', '.join(PEER_EVENTS)}")
    if t in ("welcome", "lead") and _num(msg.get("lead_ms")) and not 0 <= msg["lead_ms"] <= 5000:
        problems.append(f"{t}.lead_ms: not between 0 and 5000 ms")
    if t == "error" and isinstance(msg.get("problems"), list):
        if not all(isinstance(p, str) and len(p) <= 500 for p in msg["problems"]):
            problems.append("error.problems: not a list of short texts")
    return problems


def encode(msg: dict, sender: str = "server") -> str:
    """The JSON text of a message; ProtocolError when it is not valid or is larger than MAX_BYTES."""
    problems = validate(msg, sender)
    if problems:
        raise ProtocolError(problems)
    text = json.dumps(msg, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    size = len(text.encode("utf-8"))
    if size > MAX_BYTES:
        raise ProtocolError([f"the message is {size} bytes, more than the limit of {MAX_BYTES}"])
    return text


def decode(data, sender: str = "client") -> tuple[dict | None, list[str]]:
    """A message from the text (or bytes) received; (None, problems) when it is not one."""
    if isinstance(data, (bytes, bytearray)):
        if len(data) > MAX_BYTES:
            return None, [f"the message is {len(data)} bytes, more than the limit of {MAX_BYTES}"]
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            return None, ["the message is not UTF-8 text"]
    if not isinstance(data, str):
        return None, ["the message is not text"]
    size = len(data.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        return None, [f"the message is {size} bytes, more than the limit of {MAX_BYTES}"]

    def no_constants(name):
        raise ValueError(f"{name} is not valid JSON")

    try:
        msg = json.loads(data, parse_constant=no_constants)
    except (ValueError, RecursionError) as exc:
        return None, [f"not JSON: {str(exc)[:120]}"]
    problems = validate(msg, sender)
    return (None, problems) if problems else (msg, [])


# ------------------------------------------------------------------ constructors

def _m(t: str, **fields) -> dict:
    return {"v": SCHEMA, "type": t, **fields}


def welcome(state: dict, caps: dict, lead_ms: float = DEFAULT_LEAD_MS) -> dict:
    return _m("welcome", state=state, caps=caps, lead_ms=float(lead_ms), sample_rate=SAMPLE_RATE)


def snapshots(items: list[dict], now_frame: int, sent_ms: float) -> dict:
    return _m("snapshots", items=items, now_frame=int(now_frame), sent_ms=float(sent_ms))


def ping(id_: int, sent_ms: float) -> dict:
    return _m("ping", id=int(id_), sent_ms=float(sent_ms))


def lead(lead_ms: float) -> dict:
    return _m("lead", lead_ms=float(lead_ms))


def bye(reason: str) -> dict:
    return _m("bye", reason=reason[:STR_MAX])


def error(problems: list[str]) -> dict:
    return _m("error", problems=[p[:500] for p in problems[:20]])


def hello(w: float, h: float, dpr: float = 1.0, audio: str = "none") -> dict:
    return _m("hello", screen={"w": w, "h": h, "dpr": dpr}, audio=audio)


def pong(id_: int, sent_ms: float) -> dict:
    return _m("pong", id=int(id_), sent_ms=float(sent_ms))


def peer(event: str) -> dict:
    return _m("peer", event=event)


def status(sound: bool, av_offset_ms: float | None, dropped_frames: int, frame: float | None) -> dict:
    return _m("status", sound=bool(sound), av_offset_ms=av_offset_ms, dropped_frames=int(dropped_frames),
              frame=frame)
