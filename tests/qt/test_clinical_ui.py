"""The clinician's record in the control window, keyboard first: SUD, VOC, note and repeat typed after a
set (whatever had the focus), the client code, the target form, the medicine time, the history of the
sets and the SUD trend, the record database's state, export, and the window still fitting the
therapist's 1280x720 screen."""

from __future__ import annotations

import datetime as dt
import functools
import os
import sys
import types

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from bls.core.engine import GLIDING, IDLE, RUNNING, STOPPING
from bls.core.preset import Motion, Preset, Timing, dump_preset
from bls.ui.qt_session import Session
from bls.ui.style import apply_style

TZ = dt.timezone(dt.timedelta(hours=1))


class FakeStore:
    """The record database as the core sees it: rows handed over, and what keeps them from disk."""

    def __init__(self):
        self.problem = ""
        self.rows: list[tuple] = []

    def put(self, session, kind=None, n=0, row=None):
        self.rows.append((kind, n, dict(row or {})))

    def flush(self, timeout):
        return not self.problem

    def close(self, timeout=5.0):
        return not self.problem


class Wall:
    """The local date and time the clinical record reads (moved by the test, never by waiting)."""

    def __init__(self):
        self.now = dt.datetime(2025, 3, 4, 14, 0, 0, tzinfo=TZ)

    def __call__(self):
        return self.now


@pytest.fixture
def app(qapp, private_config_dir, monkeypatch):
    """The real app on the two offscreen screens, with short sets (2 passes at 2 cycles/s), a fake
    record database and a wall clock the test sets."""
    from bls.app import BlsApp

    presets = private_config_dir / "presets"
    presets.mkdir(parents=True)
    quick = Preset(name="quick", motion=Motion(speed_cycles_per_s=2.0, set_passes=2),
                   timing=Timing(fade_in_s=0.1, fade_out_s=0.2)).with_("audio", enabled=False)
    slow_end = Preset(name="slow end", motion=Motion(speed_cycles_per_s=2.0, set_passes=2),
                      timing=Timing(fade_in_s=0.1, fade_out_s=3.0)).with_("audio", enabled=False)
    (presets / "quick.yaml").write_text(dump_preset(quick))
    (presets / "slow end.yaml").write_text(dump_preset(slow_end))
    store, wall = FakeStore(), Wall()
    monkeypatch.setattr("bls.app.RecordStore", lambda path, **_options: store)
    monkeypatch.setattr("bls.app.Session", functools.partial(Session, wall=wall))
    apply_style(qapp)
    a = BlsApp(qapp, preset="quick", client_screen="CLIENT", no_audio=True)
    a.store, a.wall = store, wall
    yield a
    a.shutdown()
    a.control.deleteLater()
    a.display.deleteLater()
    qapp.processEvents()


def focus_or_window(app):
    """Where a key goes: the widget with the focus, as the window system sends it."""
    return QApplication.focusWidget() or app.control


def type_keys(app, *keys) -> None:
    for key in keys:
        QTest.keyClick(focus_or_window(app), key)


def run_set(app, qtbot) -> dict:
    """Space, and the set runs its 2 passes to the end; returns its row in the clinical record."""
    core = app.session.core
    before = len(core.clinical.sets)
    type_keys(app, Qt.Key_Space)
    qtbot.waitUntil(lambda: len(core.clinical.sets) == before + 1 and core.status.state == IDLE, timeout=8000)
    return core.clinical.sets[-1]


def sets(app) -> list[dict]:
    return app.session.core.clinical.sets


# --------------------------------------------------------------------------- keys after a set


def test_one_then_zero_after_a_set_is_a_sud_of_10_on_that_set(app, qtbot):
    strip = app.control.entry_strip
    run_set(app, qtbot)
    assert strip.prompt.text() == ("Set 1 ended — type the SUD (0–10), V + 1–7 for VOC, N for a note, "
                                   "R to repeat")
    assert strip.entered.text() == "Set 1 · nothing entered yet"
    type_keys(app, Qt.Key_1, Qt.Key_0)
    assert sets(app)[0]["sud"] == 10
    assert strip.entered.text() == "Set 1 · SUD 10"
    assert ("set", 1) in [(k, n) for k, n, row in app.store.rows if row.get("sud") == 10]  # handed to the store


def test_v_then_4_is_a_voc_of_4_and_the_strip_says_what_v_waits_for(app, qtbot):
    strip = app.control.entry_strip
    run_set(app, qtbot)
    type_keys(app, Qt.Key_V)
    assert strip.prompt.text().startswith("VOC: now type 1")
    type_keys(app, Qt.Key_4)
    assert (sets(app)[0]["voc"], sets(app)[0]["sud"]) == (4, None)  # the 4 was the VOC, not a SUD
    assert strip.entered.text() == "Set 1 · VOC 4"
    assert strip.prompt.text().startswith("Set 1 ended")


def test_n_opens_the_note_editor_typing_in_it_triggers_no_key_and_enter_stores_the_note(app, qtbot):
    c, strip = app.control, app.control.entry_strip
    run_set(app, qtbot)
    type_keys(app, Qt.Key_6)
    type_keys(app, Qt.Key_N)
    assert strip.editing and QApplication.focusWidget() is strip.note_edit
    assert "Note for set 1" in strip.note_label.text()
    QTest.keyClicks(focus_or_window(app), "V 2 Nice, R calmer")  # digits, V, N, R and spaces are text here
    QTest.keyClick(focus_or_window(app), Qt.Key_Return)
    s = sets(app)[0]
    assert s["note"] == "V 2 Nice, R calmer" and (s["sud"], s["voc"]) == (6, None)
    assert len(sets(app)) == 1 and app.session.status.state == IDLE  # no R, no Space reached the session
    assert not strip.editing and QApplication.focusWidget() is c.centralWidget()
    assert strip.entered.text() == "Set 1 · SUD 6 · note: V 2 Nice, R calmer"
    type_keys(app, Qt.Key_5)  # the keyboard is the entry keys' again
    assert sets(app)[0]["sud"] == 5


def test_escape_in_the_note_editor_cancels_it_and_still_stops_the_running_set(app, qtbot):
    c, s, strip = app.control, app.session, app.control.entry_strip
    c.speed_spin.setValue(0.2)  # a long set (still running when Escape comes)
    c.start_button.click()
    qtbot.waitUntil(lambda: s.status.state == RUNNING, timeout=2000)
    type_keys(app, Qt.Key_Escape)
    qtbot.waitUntil(lambda: len(sets(app)) == 1 and s.status.state == IDLE, timeout=8000)
    type_keys(app, Qt.Key_N)
    QTest.keyClicks(strip.note_edit, "not this")
    c.start_button.click()  # the next set starts with the editor still open
    qtbot.waitUntil(lambda: s.status.state == RUNNING, timeout=2000)
    QTest.keyClick(strip.note_edit, Qt.Key_Escape)
    assert not strip.editing  # cancelled ...
    qtbot.waitUntil(lambda: len(sets(app)) == 2, timeout=8000)  # ... and the set stopped: stop wins
    assert sets(app)[1]["stop_reason"] == "stopped"
    assert [x["note"] for x in sets(app)] == ["", ""]


def test_a_sud_typed_while_the_set_fades_out_goes_with_that_set(app, qtbot):
    s, strip = app.session, app.control.entry_strip
    app.load_preset("slow end")  # a 3 s fade-out after the passes
    type_keys(app, Qt.Key_Space)
    qtbot.waitUntil(lambda: s.status.state in (STOPPING, GLIDING), timeout=8000)
    assert not sets(app)
    type_keys(app, Qt.Key_3)
    assert not sets(app) and strip.entered.text() == "Set 1 · SUD 3"  # shown at once, before the record
    qtbot.waitUntil(lambda: len(sets(app)) == 1, timeout=8000)
    assert sets(app)[0]["sud"] == 3


def test_during_a_set_a_digit_is_refused_with_a_notice_and_nothing_is_entered(app, qtbot):
    c, s = app.control, app.session
    c.speed_spin.setValue(0.2)
    type_keys(app, Qt.Key_Space)
    qtbot.waitUntil(lambda: s.status.state == RUNNING, timeout=2000)
    assert c.entry_strip.prompt.text().startswith("Set 1 under way")
    type_keys(app, Qt.Key_5)
    assert "in the rest after the set" in c.statusBar().currentMessage()
    type_keys(app, Qt.Key_Escape)
    qtbot.waitUntil(lambda: len(sets(app)) == 1, timeout=8000)
    assert sets(app)[0]["sud"] is None


def test_r_repeats_the_last_set_with_its_settings(app, qtbot):
    c = app.control
    run_set(app, qtbot)
    c.speed_spin.setValue(1.5)  # changed in the rest: R plays the last set's settings again
    type_keys(app, Qt.Key_R)
    qtbot.waitUntil(lambda: len(sets(app)) == 2 and app.session.status.state == IDLE, timeout=8000)
    assert (sets(app)[1]["speed_min"], sets(app)[1]["speed_max"]) == (2.0, 2.0)
    assert app.session.settings.motion.speed_cycles_per_s == 2.0 and c.speed_spin.value() == 2.0


# --------------------------------------------------------------------------- focus


def test_digits_after_a_set_are_a_sud_even_when_a_number_field_had_the_focus_during_it(app, qtbot):
    c = app.control
    c.passes_spin.setFocus()  # the therapist set the passes by hand before the set
    assert QApplication.focusWidget() is c.passes_spin
    run_set(app, qtbot)
    assert QApplication.focusWidget() is not c.passes_spin  # the set's end took the keyboard back
    type_keys(app, Qt.Key_6)
    assert sets(app)[0]["sud"] == 6
    assert c.passes_spin.value() == 2 and app.session.settings.motion.set_passes == 2


def test_a_number_field_clicked_in_the_rest_takes_its_digits(app, qtbot):
    """The designed behaviour: a field the therapist goes into after the set is being edited."""
    c = app.control
    run_set(app, qtbot)
    c.passes_spin.setFocus()
    c.passes_spin.selectAll()
    type_keys(app, Qt.Key_3)
    assert c.passes_spin.value() == 3 and app.session.settings.motion.set_passes == 3
    assert sets(app)[0]["sud"] is None


def test_a_list_with_the_focus_never_takes_an_entry_key(app, qtbot):
    c = app.control
    run_set(app, qtbot)
    c.path_combo.setFocus()  # a list's type-ahead would pick "Vertical" for V
    type_keys(app, Qt.Key_V, Qt.Key_5)
    assert c.path_combo.currentData() == "horizontal" and app.session.settings.motion.path == "horizontal"
    assert sets(app)[0]["voc"] == 5


# --------------------------------------------------------------------------- client and target


def test_an_invalid_client_code_shows_the_cores_message_and_nothing_is_stored(app, qtbot):
    panel = app.control.session_panel
    panel.client_edit.setFocus()
    QTest.keyClicks(panel.client_edit, "C/017")
    QTest.keyClick(panel.client_edit, Qt.Key_Return)
    assert panel.client_error.isVisible()
    assert "path separator" in panel.client_error.text()
    assert app.session.core.clinical.client is None and app.store.rows == []
    assert QApplication.focusWidget() is panel.client_edit  # left where it can be put right
    panel.client_edit.selectAll()
    QTest.keyClicks(panel.client_edit, "C-017")
    QTest.keyClick(panel.client_edit, Qt.Key_Return)
    assert app.session.core.clinical.client == "C-017" and not panel.client_error.isVisible()
    assert QApplication.focusWidget() is app.control.centralWidget()  # Space starts the set again


def test_the_target_form_stores_the_assessment_and_a_new_target_begins_once_it_has_sets(app, qtbot):
    panel, core = app.control.session_panel, app.session.core
    panel.target_button.click()
    form = panel.dialog
    assert form.isVisible() and form.windowTitle() == "Target 1"
    assert [form.fields[k].optional() for k in ("sud", "voc")] == [None, None]  # not given
    form.fields["image"].setText("the car, the sound of the brakes")
    form.fields["nc"].setText("I am powerless")
    form.fields["sud"].set_optional(8)
    form.fields["body"].setText("\x07chest")  # a control character: refused, nothing stored
    form.save_button.click()
    assert form.isVisible() and "control characters" in form.error.text() and core.clinical.targets == []
    form.fields["body"].setText("chest")
    form.save_button.click()
    assert not form.isVisible()
    t = core.clinical.target
    assert (t["n"], t["image"], t["nc"], t["sud"], t["voc"], t["body"]) == (
        1, "the car, the sound of the brakes", "I am powerless", 8, None, "chest")
    assert panel.target_summary.text() == ("Target 1: “the car, the sound of the brakes” · "
                                           "NC “I am powerless” · starting SUD 8")
    assert panel.target_button.text() == "Target…"
    run_set(app, qtbot)
    type_keys(app, Qt.Key_6)
    assert panel.target_button.text() == "New target…"
    assert panel.trend.points == [(0, 8), (1, 6)]
    panel.target_button.click()
    form = panel.dialog
    assert form.windowTitle() == "New target (target 2)" and form.fields["image"].text() == ""
    form.fields["image"].setText("the hospital corridor")
    form.save_button.click()
    assert [t["n"] for t in core.clinical.targets] == [1, 2] and core.clinical.target["sud"] is None
    assert panel.trend.points == [] and panel.trend_title.text() == "SUD · target 2"
    assert sets(app)[0]["target_n"] == 1


def test_the_starting_sud_typed_before_the_first_set_begins_the_trend(app, qtbot):
    panel, strip = app.control.session_panel, app.control.entry_strip
    assert strip.prompt.text().startswith("Before the first set")
    type_keys(app, Qt.Key_7)
    assert app.session.core.clinical.target["sud"] == 7
    assert strip.entered.text() == "Target 1, starting · SUD 7"
    run_set(app, qtbot)
    type_keys(app, Qt.Key_5)
    run_set(app, qtbot)
    type_keys(app, Qt.Key_1, Qt.Key_0)  # worse again: 10
    assert panel.trend.points == [(0, 7), (1, 5), (2, 10)]
    assert panel.trend_caption.text() == "7 → 5 → 10"


# --------------------------------------------------------------------------- history


def test_the_history_lists_each_set_as_delivered_with_its_entries(app, qtbot):
    c, panel = app.control, app.control.session_panel
    assert panel.history.rowCount() == 0 and c.tabs.tabText(0) == "Session"
    run_set(app, qtbot)
    type_keys(app, Qt.Key_6, Qt.Key_V, Qt.Key_3, Qt.Key_N)
    QTest.keyClicks(c.entry_strip.note_edit, "lighter")
    QTest.keyClick(c.entry_strip.note_edit, Qt.Key_Return)
    c.gentle_check.click()  # gentle mode: 0.35 cycles/s from the next set
    c.passes_spin.setValue(1)
    run_set(app, qtbot)
    c.speed_spin.setValue(0.2)  # the controls move on; the history keeps what was delivered
    type_keys(app, Qt.Key_4)
    rows = panel.history.rows()
    secs = [float(r[2]) for r in rows]
    assert [r[:2] + r[3:] for r in rows] == [["1", "2", "2.00", "", "6", "3", "lighter"],
                                             ["2", "1", "0.35", "yes", "4", "", ""]]
    assert secs == [pytest.approx(s["seconds_delivered"], abs=0.05) for s in sets(app)]
    assert 0.5 < secs[0] < 5  # 2 passes at 2 cycles/s with their ramps: about a second and a half
    assert c.tabs.tabText(0) == "Session · 2 sets"


# --------------------------------------------------------------------------- medicine


def test_the_medicine_time_shows_the_minutes_since_and_keeps_counting(app):
    panel, wall = app.control.session_panel, app.wall
    assert not panel.medicine_label.isVisible()
    panel.medicine_button.click()
    form = panel.dialog
    assert form.time.time().toString("HH:mm") == "14:00"  # now, by default
    form.route.setText("sublingual")
    form.dose.setText("as prescribed")
    form.time.setTime(form.time.time().addSecs(-23 * 60))
    form.save_button.click()
    assert not form.isVisible()
    m = app.session.core.clinical.medicine
    assert [(x["taken_at"], x["route"], x["dose"]) for x in m] == [
        ("2025-03-04T13:37:00+01:00", "sublingual", "as prescribed")]
    assert panel.medicine_label.isVisible()
    assert panel.medicine_label.text() == "Medicine taken 23 min ago (sublingual)"
    timer = panel._medicine_timer
    assert timer.isActive() and timer.interval() <= 30_000
    wall.now += dt.timedelta(minutes=50)
    timer.timeout.emit()
    assert panel.medicine_label.text() == "Medicine taken 1 h 13 min ago (sublingual)"


def test_a_medicine_time_later_than_now_is_yesterdays(app):
    """Taken before midnight, marked after it: the time shown is the latest such moment, never a future one."""
    panel = app.control.session_panel
    panel.medicine_button.click()
    form = panel.dialog
    form.route.setText("intramuscular")
    form.time.setTime(form.time.time().addSecs(30 * 60))  # 14:30 while it is 14:00
    form.save_button.click()
    assert not form.isVisible()
    assert [m["taken_at"] for m in app.session.core.clinical.medicine] == ["2025-03-03T14:30:00+01:00"]
    assert panel.medicine_label.text() == "Medicine taken 23 h 30 min ago (intramuscular)"


# --------------------------------------------------------------------------- the record database


def test_the_store_warning_appears_while_the_record_is_not_saved_and_goes_when_it_clears(app, qtbot):
    c = app.control
    assert not c.store_label.isVisible()
    app.store.problem = "the disk is full"
    qtbot.waitUntil(lambda: c.store_label.isVisible(), timeout=2000)
    assert c.store_label.text() == ("The clinical record is not being saved: the disk is full. Sets still run; "
                                    "entries are kept and saved when this clears.")
    run_set(app, qtbot)  # sets still run, entries still go in
    type_keys(app, Qt.Key_4)
    assert sets(app)[0]["sud"] == 4
    app.store.problem = ""
    qtbot.waitUntil(lambda: not c.store_label.isVisible(), timeout=2000)


# --------------------------------------------------------------------------- export


def test_export_hands_the_sessions_record_to_the_csv_writer(app, qtbot, tmp_path, monkeypatch):
    panel = app.control.session_panel
    calls = []
    fake = types.ModuleType("bls.session.export")
    fake.write_csv = lambda doc, path: calls.append((doc, path))
    monkeypatch.setitem(sys.modules, "bls.session.export", fake)
    run_set(app, qtbot)
    type_keys(app, Qt.Key_2)
    monkeypatch.setattr(panel, "ask_export_path", lambda: str(tmp_path / "c.csv"))
    panel.export_button.click()
    (doc, path), = calls
    assert path == tmp_path / "c.csv" and [(s["n"], s["sud"]) for s in doc["sets"]] == [(1, 2)]
    assert str(tmp_path / "c.csv") in app.control.statusBar().currentMessage()


def test_export_without_its_writer_or_to_an_unwritable_place_says_so(app, tmp_path, monkeypatch):
    panel = app.control.session_panel
    told = []
    monkeypatch.setattr(panel, "tell", lambda title, text: told.append(text))
    monkeypatch.setitem(sys.modules, "bls.ui.report", None)  # not in this version: ImportError
    monkeypatch.setattr(panel, "ask_export_path", lambda: str(tmp_path / "r.pdf"))
    panel.export_button.click()
    assert "cannot write a report" in told[-1]

    def refuse(doc, path):
        raise PermissionError(13, "Permission denied", str(path))
    fake = types.ModuleType("bls.session.export")
    fake.write_csv = refuse
    monkeypatch.setitem(sys.modules, "bls.session.export", fake)
    monkeypatch.setattr(panel, "ask_export_path", lambda: str(tmp_path / "c.csv"))
    panel.export_button.click()
    assert "could not be written" in told[-1] and "Permission denied" in told[-1]


# --------------------------------------------------------------------------- layout


def test_the_entries_never_move_anything_on_the_screen(app, qtbot):
    c = app.control
    def places():
        return [w.geometry() for w in (c.entry_strip, c.tabs, c.start_button, c.gentle_check)]
    before = places()
    run_set(app, qtbot)
    assert places() == before
    type_keys(app, Qt.Key_8, Qt.Key_V, Qt.Key_2, Qt.Key_N)
    assert places() == before  # the note editor opens in the strip's place
    QTest.keyClicks(c.entry_strip.note_edit, "a long note " * 30)
    QTest.keyClick(c.entry_strip.note_edit, Qt.Key_Return)
    assert places() == before and c.entry_strip.entered.text().startswith("Set 1 · SUD 8 · VOC 2 · note: a long")


def test_the_control_window_fits_the_therapists_screen_with_the_set_and_stimulus_controls_in_view(app):
    c = app.control
    screen = next(s for s in QGuiApplication.screens() if s.name() == "THERAPIST")
    assert screen.availableGeometry().contains(c.frameGeometry())
    for w in (c.entry_strip, c.start_button, c.stop_button, c.gentle_check, c.speed_slider, c.tabs):
        assert not w.visibleRegion().isEmpty(), w
        assert w.height() >= w.minimumSizeHint().height(), w  # nothing squeezed to fit
    assert c.tabs.currentWidget() is c.session_panel


def test_the_newest_set_stays_in_view_when_the_history_gets_shorter(app, qtbot):
    c, table = app.control, app.control.session_panel.history
    for sud in (Qt.Key_7, Qt.Key_6, Qt.Key_5, Qt.Key_4, Qt.Key_3, Qt.Key_2):
        run_set(app, qtbot)
        type_keys(app, sud)
    app.store.problem = "the disk is full"  # the warning takes room from the history
    qtbot.waitUntil(lambda: c.store_label.isVisible(), timeout=2000)
    qtbot.waitUntil(lambda: table.verticalScrollBar().maximum() > 0, timeout=2000)
    last = table.visualItemRect(table.item(table.rowCount() - 1, 0))
    assert table.viewport().rect().contains(last)


def test_a_record_database_that_cannot_be_used_is_told_as_the_app_starts(qapp, qtbot, private_config_dir):
    """The real store on a database from a newer bls: the warning is there before any set is run."""
    import sqlite3

    from bls.app import BlsApp
    from bls.core.paths import data_dir

    data = data_dir()
    data.mkdir(parents=True)
    db = sqlite3.connect(data / "records.sqlite3")
    db.execute("PRAGMA application_id=1651274497")  # bls's id, a schema version this bls does not know
    db.execute("PRAGMA user_version=99")
    db.execute("CREATE TABLE future (x)")
    db.commit()
    db.close()
    before = (data / "records.sqlite3").read_bytes()
    apply_style(qapp)
    a = BlsApp(qapp, preset="standard", client_screen="CLIENT", no_audio=True)
    try:
        a.control.show()
        QTest.qWaitForWindowExposed(a.control)
        qtbot.waitUntil(lambda: a.control.store_label.isVisible(), timeout=10_000)
        assert "newer bls" in a.control.store_label.text()
        assert a.session.core.clinical.sets == []
    finally:
        a.shutdown()
        a.control.deleteLater()
        a.display.deleteLater()
        qapp.processEvents()
    assert (data / "records.sqlite3").read_bytes() == before


def test_a_note_typed_into_its_field_keeps_its_spaces_and_bs_wherever_the_focus_is(app, qtbot):
    """Keys sent to the note field are its typing (Space does not start a set, B does not stop one),
    even when the window system's focus is elsewhere (as it is for a test, or a screen reader)."""
    c, core = app.control, app.session.core
    run_set(app, qtbot)
    type_keys(app, Qt.Key_N)
    c.centralWidget().setFocus()
    QTest.keyClicks(c.entry_strip.note_edit, "a bird, b b")
    QTest.keyClick(c.entry_strip.note_edit, Qt.Key_Return)
    assert sets(app)[-1]["note"] == "a bird, b b"
    assert core.status.state == IDLE and len(core.clinical.sets) == 1
    assert not [e for e in core.record.events if e["kind"] in ("question", "repeat")]


def test_export_writes_the_real_csv_and_pdf_of_this_session(app, qtbot, tmp_path, monkeypatch):
    """The real writers, from the window: the files hold this session's client and entries."""
    import csv
    import shutil
    import subprocess

    c, panel = app.control, app.control.session_panel
    panel.client_edit.setText("C-042")
    panel.commit_client()
    run_set(app, qtbot)
    type_keys(app, Qt.Key_6, Qt.Key_N)
    QTest.keyClicks(c.entry_strip.note_edit, "warmth in the hands")
    QTest.keyClick(c.entry_strip.note_edit, Qt.Key_Return)
    for name in ("s.csv", "s.pdf"):
        monkeypatch.setattr(panel, "ask_export_path", lambda name=name: str(tmp_path / name))
        panel.export_button.click()
        assert (tmp_path / name).is_file() and str(tmp_path / name) in c.statusBar().currentMessage()
    rows = list(csv.reader((tmp_path / "s.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert len(rows) == 2 and "C-042" in rows[1] and "6" in rows[1] and "warmth in the hands" in rows[1]
    assert (tmp_path / "s.pdf").read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(tmp_path / "s.pdf"), "-"], capture_output=True, text=True).stdout
        assert "C-042" in text and "warmth in the hands" in text


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_the_app_keeps_its_records_in_folders_only_the_user_can_open(qapp, qtbot, private_config_dir):
    import stat

    from bls.app import BlsApp
    from bls.core.paths import data_dir, records_dir

    a = BlsApp(qapp, preset="standard", client_screen="CLIENT", no_audio=True)
    try:
        qtbot.waitUntil(lambda: (data_dir() / "records.sqlite3").exists(), timeout=10_000)
        qtbot.waitUntil(lambda: stat.S_IMODE(data_dir().stat().st_mode) == 0o700, timeout=10_000)
        assert stat.S_IMODE(records_dir().stat().st_mode) == 0o700
        assert stat.S_IMODE((data_dir() / "records.sqlite3").stat().st_mode) == 0o600
    finally:
        a.shutdown()
        a.control.deleteLater()
        a.display.deleteLater()
        qapp.processEvents()
