"""The clinician's record through the session core: what the therapist enters is checked (a clear
message, nothing stored wrong: the database is read back), the keys typed in the rest (SUD digits,
"1" "0" for 10, "V" + digit for a VOC, "R" to repeat a set), medicine minutes from the wall clock.

The session runs on a manual clock (session seconds advance only when the test says so); the wall
clock is a fake the test moves. Expected values are written out here or read from the preset files.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path

import pytest

from bls.core.engine import GLIDING, IDLE, RUNNING, SAMPLE_RATE, STOPPING
from bls.core.preset import builtin_presets
from bls.session import CUT_REST, UNLOCK, SessionCore, SessionRecord
from bls.session.clinical import (
    EntryError,
    EntryKeys,
    check_code,
    check_sud,
    check_text,
    check_voc,
)
from bls.session.script import ScriptClock
from bls.session.store import RecordStore

T0 = dt.datetime(2026, 3, 2, 9, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))


class Wall:
    """The local date and time the core sees; moves only when the test moves it."""

    def __init__(self, start=T0):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += dt.timedelta(**kw)


class Session:
    """A SessionCore on a manual clock, its clinical record kept in a database in ``tmp``."""

    def __init__(self, tmp: Path, preset="standard", store=True, record_path=None):
        self.clock = None
        self.wall = Wall()
        self.db = tmp / "records.sqlite3"
        self.store = RecordStore(self.db, retry_s=0.05) if store else None

        def clocks(engine, _want):
            self.clock = ScriptClock(engine)
            return self.clock

        preset = builtin_presets()[preset] if isinstance(preset, str) else preset
        self.core = SessionCore(preset, clocks, SessionRecord(record_path), store=self.store, wall=self.wall)
        self.notices: list[str] = []
        self.asked = []
        self.core.notice.connect(self.notices.append)
        self.core.question_opened.connect(self.asked.append)

    @property
    def t(self) -> float:
        return self.core.engine.next_frame / SAMPLE_RATE

    def run(self, seconds: float) -> None:
        self.clock.advance_to(self.core.engine.next_frame + int(round(seconds * SAMPLE_RATE)), self.core)

    def run_until(self, condition, limit_s: float = 120.0, what="the condition") -> None:
        """Advance session time in 10 ms steps until ``condition()`` (at most ``limit_s`` of session time)."""
        end = self.t + limit_s
        while not condition():
            if self.t > end:
                pytest.fail(f"{what} did not happen within {limit_s} s of session time")
            self.run(0.01)

    def one_set(self) -> None:
        """Start a set and run it to its end (its record written)."""
        n = len(self.core.record.sets)
        assert self.core.start() == "applied"
        self.run_until(lambda: len(self.core.record.sets) == n + 1 and self.core.status.state == IDLE,
                       what="the end of the set")

    def rows(self, sql: str, args=()) -> list[tuple]:
        assert self.store.flush(10.0), self.store.problem
        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def close(self) -> str:
        self.core.quit()
        self.core.finish()
        return self.core.close_store(10.0)


@pytest.fixture
def s(tmp_path):
    session = Session(tmp_path)
    yield session
    session.core.quit()
    if session.store is not None:
        session.store.close(10.0)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("value, words", [(11, "11 is outside 0 to 10"), (-1, "outside 0 to 10"),
                                          (6.5, "not a whole number"), ("high", "not a whole number"),
                                          (True, "not a whole number"), (None, "not a whole number")])
def test_a_sud_outside_0_to_10_is_refused_and_the_stored_one_kept(s, value, words):
    s.one_set()
    s.core.enter_sud(6)
    with pytest.raises(EntryError) as info:
        s.core.enter_sud(value)
    assert words in str(info.value) and "SUD" in str(info.value)
    assert s.rows("SELECT n, sud FROM sets") == [(1, 6)]


@pytest.mark.parametrize("value, words", [(0, "0 is outside 1 to 7"), (8, "outside 1 to 7"), (3.5, "not a whole")])
def test_a_voc_outside_1_to_7_is_refused_and_the_stored_one_kept(s, value, words):
    s.one_set()
    s.core.enter_voc(4)
    with pytest.raises(EntryError) as info:
        s.core.enter_voc(value)
    assert words in str(info.value) and "VOC" in str(info.value)
    assert s.rows("SELECT n, voc FROM sets") == [(1, 4)]


@pytest.mark.parametrize("text, words", [
    ("x" * 100_000, "100000 characters; at most 1000"),
    ("calmer\x00then", "control characters (U+0000)"),
    ("calmer\nthen worse", "control characters (U+000A)"),
    ("\x1b[31mred\x1b[0m", "control characters (U+001B)"),
    ("line\u2028separator", "U+2028"),
])
def test_a_bad_note_is_refused_with_its_reason_and_the_stored_one_kept(s, text, words):
    s.one_set()
    s.core.enter_note("calmer")
    with pytest.raises(EntryError) as info:
        s.core.enter_note(text)
    assert words in str(info.value)
    assert s.rows("SELECT n, note FROM sets") == [(1, "calmer")]


@pytest.mark.parametrize("code, words", [("C/017", "path separator"), ("C\\017", "path separator"),
                                         ("../etc", "path separator"), ("..", "client code"),
                                         ("", "empty"), ("x" * 33, "at most 32"), ("C#17", "use letters, digits"),
                                         ("-C17", "starting with a letter or digit"), ("C-017\n", "C-017")])
def test_a_client_code_that_is_not_a_pseudonym_is_refused(s, code, words):
    s.core.set_client("C-017")
    if code == "C-017\n":  # surrounding white space is not part of a code: the same client
        assert s.core.set_client(code) == "unchanged"
    else:
        with pytest.raises(EntryError) as info:
            s.core.set_client(code)
        assert words in str(info.value)
    s.one_set()
    assert s.rows("SELECT client_code FROM sessions") == [("C-017",)]


def test_a_target_with_one_bad_field_is_refused_whole_and_says_every_problem(s):
    s.core.set_target({"image": "the crash", "sud": 7, "voc": 3})
    with pytest.raises(EntryError) as info:
        s.core.set_target({"image": "another", "sud": 11, "voc": 0, "body": "a\x07"})
    text = str(info.value)
    assert "11 is outside 0 to 10" in text and "0 is outside 1 to 7" in text and "control characters" in text
    assert s.rows("SELECT n, image, sud, voc FROM targets") == [(1, "the crash", 7, 3)]


def test_a_target_field_or_a_route_too_long_is_refused(s):
    with pytest.raises(EntryError, match="Image: 1001 characters; at most 1000"):
        s.core.set_target({"image": "x" * 1001})
    with pytest.raises(EntryError, match="route: 201 characters; at most 200"):
        s.core.mark_medicine("r" * 201, "")
    with pytest.raises(EntryError, match="dose: 201 characters; at most 200"):
        s.core.mark_medicine("oral", "d" * 201)
    s.one_set()
    assert s.rows("SELECT count(*) FROM targets") == [(0,)]
    assert s.rows("SELECT count(*) FROM medicine") == [(0,)]


def test_a_target_is_corrected_until_a_set_goes_with_it_then_a_new_one_begins(s):
    assert s.core.set_target({"image": "the crash"}) == 1
    assert s.core.set_target({"image": "the crash, at night"}) == 1  # corrected before any set
    s.one_set()
    assert s.core.set_target({"image": "the hospital"}) == 2
    s.one_set()
    assert s.rows("SELECT n, image FROM targets ORDER BY n") == [(1, "the crash, at night"), (2, "the hospital")]
    assert s.rows("SELECT n, target_n FROM sets ORDER BY n") == [(1, 1), (2, 2)]


def test_checks_give_back_the_value_to_store():
    assert check_sud("10") == 10 and check_sud(0) == 0 and check_voc(7.0) == 7
    assert check_code("  C-017 ") == "C-017"
    assert check_text("note", "a\tb ") == "a b"


# --------------------------------------------------------------------------- keys in the rest


def test_entry_keys_one_zero_within_two_seconds_is_ten_and_after_a_pause_is_zero():
    k = EntryKeys()
    assert k.key("1", 100.0) == ("sud", 1)
    assert k.key("0", 101.9) == ("sud", 10)
    k.reset()
    assert k.key("1", 200.0) == ("sud", 1)
    assert k.key("0", 202.1) == ("sud", 0)
    assert k.key("V", 300.0) == ("voc_armed", None)
    assert k.key("5", 301.0) == ("voc", 5)
    assert k.key("V", 400.0) == ("voc_armed", None)
    assert k.key("9", 400.5) == ("voc_bad", 9)
    assert k.key("x", 500.0) is None


def test_typing_1_then_0_within_two_seconds_stores_a_sud_of_10(s):
    s.one_set()
    assert s.core.key("1") == "applied"
    s.run(1.5)
    assert s.core.key("0") == "applied"
    assert s.rows("SELECT n, sud FROM sets") == [(1, 10)]


def test_typing_1_a_pause_then_0_stores_a_sud_of_0(s):
    s.one_set()
    s.core.key("1")
    assert s.rows("SELECT sud FROM sets") == [(1,)]
    s.run(2.5)
    s.core.key("0")
    assert s.rows("SELECT n, sud FROM sets") == [(1, 0)]


def test_v_then_a_digit_is_a_voc_and_a_voc_of_9_is_refused_with_a_message(s):
    s.one_set()
    assert s.core.key("V") == "asked"
    assert s.core.key("5") == "applied"
    assert s.rows("SELECT voc, sud FROM sets") == [(5, None)]
    s.core.key("V")
    assert s.core.key("9") == "unchanged"
    assert any("VOC 9" in n and "1 (completely false) to 7 (completely true)" in n for n in s.notices), s.notices
    assert s.rows("SELECT voc, sud FROM sets") == [(5, None)]  # neither a VOC of 9 nor a SUD of 9


def test_digits_during_a_running_set_are_refused_with_a_message(s):
    s.one_set()
    s.core.enter_sud(6)
    assert s.core.start() == "applied"
    s.run(2.0)
    assert s.core.status.state == RUNNING
    for key in ("3", "V", "4", "1", "0"):
        s.core.key(key)
    assert any("after the set" in n for n in s.notices), s.notices
    with pytest.raises(EntryError, match="after the set"):
        s.core.enter_note("during")
    s.run_until(lambda: len(s.core.record.sets) == 2 and s.core.status.state == IDLE)
    assert s.rows("SELECT n, sud, voc, note FROM sets ORDER BY n") == [(1, 6, None, ""), (2, None, None, "")]


def test_keys_typed_while_the_set_fades_out_go_with_the_ending_set(s):
    s.one_set()
    s.core.enter_sud(6)
    s.core.start()
    s.run(3.0)
    s.core.key("Escape")
    s.run(0.01)
    assert s.core.engine.status.state in (STOPPING, GLIDING)
    assert s.core.key("4") == "applied"
    s.core.key("V")
    assert s.core.key("6") == "applied"
    s.run_until(lambda: len(s.core.record.sets) == 2 and s.core.status.state == IDLE)
    assert s.rows("SELECT n, sud, voc, stop_reason FROM sets ORDER BY n") == [(1, 6, None, "complete"),
                                                                            (2, 4, 6, "stopped")]


def test_a_sud_before_the_first_set_is_the_targets_and_survives_the_target_being_filled_in(s):
    assert s.core.enter_sud(7) == ("target", 1)
    s.core.set_target({"image": "the crash", "nc": "I am helpless"})
    s.core.enter_voc(3)
    assert s.rows("SELECT n, image, nc, sud, voc FROM targets") == [(1, "the crash", "I am helpless", 7, 3)]


def test_a_note_before_any_set_is_refused(s):
    with pytest.raises(EntryError, match="goes with a set"):
        s.core.enter_note("before")
    assert s.core.key("N") == "unchanged"
    assert any("goes with a set" in n for n in s.notices)


# --------------------------------------------------------------------------- repeat


def delivered_speeds(s, n) -> tuple:
    return s.rows("SELECT speed_min, speed_max FROM sets WHERE n = ?", (n,))[0]


def test_r_repeats_the_last_set_with_its_settings_after_the_speed_was_changed(s):
    preset_speed = builtin_presets()["standard"].motion.speed_cycles_per_s  # the file says 1.0
    s.one_set()
    assert delivered_speeds(s, 1) == (preset_speed, preset_speed)
    for _ in range(4):
        s.core.key("Up")  # the therapist tries a faster speed, then decides to repeat the set
    assert s.core.settings.motion.speed_cycles_per_s == pytest.approx(preset_speed + 0.2)
    assert s.core.key("R") == "applied"
    s.run_until(lambda: len(s.core.record.sets) == 2 and s.core.status.state == IDLE)
    assert delivered_speeds(s, 2) == (preset_speed, preset_speed)
    assert s.rows("SELECT n, preset, passes_delivered FROM sets ORDER BY n") == [(1, "standard", 24), (2, "standard", 24)]


def test_r_before_any_set_says_there_is_none(s):
    assert s.core.key("R") == "unchanged"
    assert any("No set to repeat" in n for n in s.notices)
    assert s.core.status.state == IDLE


def test_r_in_gentle_mode_asks_where_the_core_asks(tmp_path):
    g = Session(tmp_path, preset="gentle")
    c = g.core
    try:
        assert c.set_field("motion.speed_cycles_per_s", 0.6) == "asked"  # past the gentle limit (0.5)
        assert g.asked[-1].kind == UNLOCK
        c.answer(True)
        g.one_set()
        # in the rest after a gentle set, R asks before cutting the rest short; the safe answer waits
        assert c.key("R") == "asked" and g.asked[-1].kind == CUT_REST
        c.answer(False)
        g.run(0.5)
        assert c.status.state == IDLE and len(c.record.sets) == 1
        # another preset ends the unlock; once the rest is over, R asks to unlock the speed again
        assert c.load_preset(builtin_presets()["gentle"]) == "applied"
        g.run(31.0)
        assert c.key("R") == "asked" and g.asked[-1].kind == UNLOCK
        c.answer(True)
        g.run_until(lambda: len(c.record.sets) == 2 and c.status.state == IDLE)
        assert delivered_speeds(g, 2)[1] == pytest.approx(0.6, abs=1e-3)
    finally:
        c.quit()
        g.store.close(10.0)


# --------------------------------------------------------------------------- medicine


def test_medicine_minutes_of_each_set_come_from_the_wall_clock(s):
    s.core.mark_medicine("sublingual", "as prescribed", T0 - dt.timedelta(minutes=20))
    s.one_set()
    s.wall.advance(minutes=7, seconds=30)  # the rest as the wall clock measured it
    s.one_set()
    s.wall.advance(hours=1)
    s.one_set()
    assert s.rows("SELECT n, medicine_min FROM sets ORDER BY n") == [(1, 20.0), (2, 27.5), (3, 87.5)]
    assert s.rows("SELECT n, taken_at, route, dose FROM medicine") == [
        (1, "2026-03-02T08:40:00+01:00", "sublingual", "as prescribed")]


def test_medicine_in_the_future_or_a_day_ago_is_refused(s):
    with pytest.raises(EntryError, match="future"):
        s.core.mark_medicine("oral", "", T0 + dt.timedelta(minutes=5))
    with pytest.raises(EntryError, match="24 hours"):
        s.core.mark_medicine("oral", "", T0 - dt.timedelta(hours=25))
    with pytest.raises(EntryError, match="control characters"):
        s.core.mark_medicine("oral\x00", "")
    s.one_set()
    assert s.rows("SELECT count(*) FROM medicine") == [(0,)]
    assert s.rows("SELECT medicine_min FROM sets") == [(None,)]


def test_a_session_kept_whole_in_the_database_at_close(s):
    s.core.set_client("C-017")
    s.core.set_target({"image": "the crash", "nc": "I am helpless", "pc": "I survived", "voc": 3, "sud": 7,
                       "body": "chest"})
    s.one_set()
    s.core.enter_sud(6)
    s.core.enter_note("calmer, image further away")
    assert s.close() == ""
    assert s.rows("SELECT client_code, started_at, ended_at FROM sessions") == [
        ("C-017", "2026-03-02T09:00:00+01:00", "2026-03-02T09:00:00+01:00")]
    assert s.rows("SELECT n, target_n, sud, voc, note, stop_reason FROM sets") == [
        (1, 1, 6, None, "calmer, image further away", "complete")]
    assert "clinical" not in s.core.record.meta  # the technical record holds no clinical data


# --------------------------------------------------------------------------- the database, as the app uses it


def wait_for(condition, timeout=15.0, what="the condition"):
    """A deadline on a condition another thread makes true (the writer thread); not a pause."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.005)


def db_rows(path: Path, sql: str) -> list[tuple]:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        return []
    try:
        return db.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        db.close()


def test_each_set_is_committed_on_its_own_when_it_ends(s):
    """The app never flushes: the writer thread commits the set as it ends, and an entry as it is typed."""
    s.core.set_client("C-017")
    s.one_set()
    wait_for(lambda: db_rows(s.db, "SELECT n, stop_reason FROM sets") == [(1, "complete")], what="set 1 committed")
    s.core.enter_sud(4)
    wait_for(lambda: db_rows(s.db, "SELECT n, sud FROM sets") == [(1, 4)], what="its SUD committed")


def test_the_core_tells_a_locked_database_and_its_end_through_store_state(s):
    s.core.set_client("C-017")
    s.one_set()
    wait_for(lambda: db_rows(s.db, "SELECT count(*) FROM sets") == [(1,)])
    states = []
    s.core.store_state.connect(states.append)
    other = sqlite3.connect(s.db, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        s.core.enter_sud(5)
        wait_for(lambda: s.core.poll() or bool(states), what="store_state")  # polled, as the app polls
        assert "in use by another program" in states[0]
        assert s.core.record.meta["clinical"]["sets"][0]["sud"] == 5  # kept meanwhile
        s.one_set()  # sets still run
    finally:
        other.execute("COMMIT")
        other.close()
    wait_for(lambda: s.core.poll() or states[-1] == "", what="store_state clearing")
    wait_for(lambda: s.store.pending == 0)
    assert db_rows(s.db, "SELECT n, sud FROM sets ORDER BY n") == [(1, 5), (2, None)]
    assert "clinical" not in s.core.record.meta


def test_the_technical_json_record_holds_no_clinical_data_while_the_database_works(tmp_path):
    record_file = tmp_path / "sessions" / "session-2026-03-02-090000.json"
    g = Session(tmp_path, record_path=record_file)
    g.core.set_client("C-017")
    g.core.set_target({"image": "the crash", "nc": "I am helpless", "pc": "I survived", "body": "chest"})
    g.core.mark_medicine("sublingual", "two tablets", T0)
    g.one_set()
    g.core.enter_note("calmer, image further away")
    assert g.close() == ""
    text = record_file.read_text()
    for secret in ("C-017", "the crash", "helpless", "survived", "chest", "sublingual", "two tablets", "calmer"):
        assert secret not in text, secret
    assert g.rows("SELECT note FROM sets") == [("calmer, image further away",)]
