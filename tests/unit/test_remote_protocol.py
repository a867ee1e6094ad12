"""The remote client's messages (bls.remote.protocol): the envelope, validation with every problem
named, the size limit, and that no clinical data is ever in what is sent."""

from __future__ import annotations

import json

import pytest

from bls.core.engine import SAMPLE_RATE
from bls.core.preset import builtin_presets
from bls.remote import protocol as P
from bls.remote.feed import SnapshotFeed, session_state
from bls.remote.wire import wire_caps
from bls.session import SessionCore, SessionRecord
from bls.session.script import ScriptClock


def test_every_constructor_makes_a_valid_message_that_round_trips():
    msgs = [(P.welcome({"set_state": "idle"}, wire_caps()), "server"),
            (P.snapshots([{"start": 0, "state": "idle"}], 480, 12.5), "server"),
            (P.ping(3, 100.0), "server"), (P.bye("the session ended"), "server"), (P.error(["x"]), "server"),
            (P.hello(1920, 1080, 2.0, "running"), "client"), (P.pong(3, 100.0), "client"),
            (P.status(True, 12.0, 3, 4800.0), "client"), (P.status(False, None, 0, None), "client")]
    for m, sender in msgs:
        text = P.encode(m, sender)
        back, problems = P.decode(text, sender)
        assert problems == [] and back == m


def test_validation_lists_every_problem_with_its_reason():
    bad = {"v": 2, "type": "status", "sound": "yes", "dropped_frames": -1, "frame": float("inf"), "extra": 1}
    problems = P.validate(bad, "client")
    text = "\n".join(problems)
    assert "v: 2 is not schema version 1" in text
    assert "status.sound" in text and "true or false" in text
    assert "status.dropped_frames" in text and "whole number" in text
    assert "status.frame" in text
    assert "av_offset_ms is missing" in text
    assert "unknown field 'extra'" in text
    assert len(problems) == 6


def test_a_type_from_the_wrong_side_is_refused():
    assert any("not one of" in p for p in P.validate(P.ping(1, 0.0), "client"))  # a client never sends ping
    assert any("not one of" in p for p in P.validate(P.hello(1, 1), "server"))
    assert P.validate([1, 2], "client") == ["a message is a JSON object"]


@pytest.mark.parametrize("text, why", [
    ("{", "not JSON"), ("NaN", "not JSON"), ('{"v":1,"type":"pong","id":1,"sent_ms":NaN}', "not JSON"),
    ("[]", "JSON object"), (b"\xff\xfe", "not UTF-8"),
    ('{"v":1,"type":"hello","screen":{"w":0,"h":1e9,"dpr":1,"z":1},"audio":"loud"}', "hello.screen.w"),
])
def test_malformed_input_is_refused_with_a_reason(text, why):
    msg, problems = P.decode(text, "client")
    assert msg is None and any(why in p for p in problems), problems


def test_hello_screen_problems_are_all_named():
    _, problems = P.decode('{"v":1,"type":"hello","screen":{"w":0,"h":1e9,"dpr":1,"z":1},"audio":"loud"}')
    text = "\n".join(problems)
    assert "screen.w" in text and "screen.h" in text and "'z'" in text and "hello.audio" in text


def test_size_limit_both_ways():
    big = "x" * (P.MAX_BYTES + 1)
    msg, problems = P.decode(big)
    assert msg is None and "more than the limit of 65536" in problems[0]
    msg, problems = P.decode(big.encode())
    assert msg is None and "more than the limit" in problems[0]
    items = [{"start": i, "pad": "y" * 2000} for i in range(40)]
    with pytest.raises(P.ProtocolError, match="more than the limit"):
        P.encode(P.snapshots(items, 0, 0.0))
    with pytest.raises(P.ProtocolError, match="at most 64"):
        P.encode(P.snapshots([{"start": i} for i in range(65)], 0, 0.0))


def test_the_feed_sends_each_snapshot_once_and_all_of_them_to_a_new_client():
    core = _core("standard")
    feed = SnapshotFeed(core.engine)
    first = feed.take()
    assert first and feed.take() == []
    core.start()
    core.clocks.advance_to(2 * SAMPLE_RATE, core)
    new = feed.take()
    assert new and all(s.start >= first[-1].start for s in new)
    assert feed.take() == []
    feed.reset()
    assert feed.take() == list(core.engine.history)


def _core(name):
    holder = {}

    def clocks(engine, _want):
        holder["c"] = ScriptClock(engine)
        return holder["c"]
    return SessionCore(builtin_presets()[name], clocks, SessionRecord())


def test_no_clinical_data_in_what_a_scripted_session_sends():
    core = _core("gentle")
    secrets = {"client": "C-SECRET-42", "image": "the red car crash", "nc": "I am powerless",
               "pc": "I can cope now", "note": "talked about her brother Zebulon"}
    core.set_client(secrets["client"])
    core.set_target({"image": secrets["image"], "nc": secrets["nc"], "pc": secrets["pc"], "voc": 3, "sud": 9})
    feed = SnapshotFeed(core.engine)
    sent = [P.encode(P.welcome(session_state(core.engine, core.settings.gentle), wire_caps()))]
    core.start()
    t = 0
    for _ in range(3):  # three sets with entries between them
        while core.engine.status.set_index == 0 or core.engine.status.state != "idle" or t < 30:
            t += 1
            core.clocks.advance_to(core.engine.next_frame + SAMPLE_RATE // 10, core)
            m = feed.message(float(t))
            if m:
                sent.append(P.encode(m))
            if t > 4000:
                break
        core.enter_sud(7)
        core.enter_voc(5)
        core.enter_note(secrets["note"])
        core.start()
        if core.question is not None:  # starting within the gentle rest asks
            core.answer(True)
        t = 0
    core.quit()
    sent.append(P.encode(P.bye("the session ended")))
    assert len(core.record.sets) >= 3 and len(sent) > 10
    blob = "\n".join(sent)
    for value in secrets.values():
        assert value not in blob
    keys = set()

    def walk(v):
        if isinstance(v, dict):
            keys.update(v)
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
    for s in sent:
        walk(json.loads(s))
    clinical = {"sud", "voc", "note", "notes", "client", "client_code", "image", "nc", "pc", "target", "medicine",
                "name", "dose", "route"}
    assert not keys & clinical, keys & clinical
    # the clinical record did get them (the test would prove nothing otherwise)
    doc = json.dumps(core.clinical_document())
    assert secrets["note"] in doc and secrets["client"] in doc
