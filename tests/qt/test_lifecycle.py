"""The session's life in the app: closing the control window or Ctrl+Q ends it (asking first if a set
runs), the set stops with its fade, the record is written and the screens may sleep again; a gentle
preset with an unlocked value is never saved; the photosafe slow-down is told."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox

from bls.core.engine import IDLE, RUNNING

from .conftest import wait_ms
from .test_gentle_ui import Answer
from .test_preset_panel import script


class FakeQApp:
    """Stands in for QApplication.quit: the test's own event loop must go on."""

    def __init__(self, app):
        self.app, self.quits = app, 0

    def quit(self):
        self.quits += 1
        self.app.shutdown()  # what aboutToQuit does

    def __getattr__(self, name):
        return getattr(self.app.__dict__["_real_qapp"], name)


class FakeInhibitor:
    how = "fake"

    def __init__(self):
        self.active, self.calls = False, []

    def inhibit(self, reason):
        self.calls.append(("inhibit", reason))
        self.active = True
        return True

    def release(self):
        self.calls.append(("release",))
        self.active = False


@pytest.fixture
def app(qapp, tmp_path, monkeypatch):
    from bls.app import BlsApp

    inhibitor = FakeInhibitor()
    monkeypatch.setattr("bls.app.sleep_inhibitor", lambda: inhibitor)
    a = BlsApp(qapp, preset="standard", client_screen="CLIENT", log=tmp_path / "log.json", no_audio=True)
    a._real_qapp = qapp
    a.qapp = FakeQApp(a)
    a.inhibitor = inhibitor
    yield a
    a.shutdown()
    a.control.deleteLater()
    a.display.deleteLater()
    qapp.processEvents()


def answer_quit_box(app, end: bool):
    """Answer the 'End the session?' box when it opens (it is modal: answered from a timer)."""
    def click():
        box = next(w for w in app._real_qapp.topLevelWidgets() if isinstance(w, QMessageBox) and w.isVisible())
        assert box.windowTitle() == "End the session?"
        target = [b for b in box.buttons() if b.text() == ("End session" if end else "Keep going")][0]
        target.click()
    from PySide6.QtCore import QTimer
    QTimer.singleShot(150, click)


def test_the_screens_are_kept_awake_for_the_session_and_released_at_its_end(app):
    assert app.inhibitor.calls == [("inhibit", "EMDR session running")]
    assert [e for e in app.session.events if e["kind"] == "screen_sleep"][0]["held"] is True
    app.shutdown()
    assert app.inhibitor.calls[-1] == ("release",) and not app.inhibitor.active


def test_closing_the_control_window_during_a_set_asks_and_keep_going_keeps_it(app, qtbot):
    c, s = app.control, app.session
    c.start_button.click()
    qtbot.waitUntil(lambda: s.status.state == RUNNING, timeout=2000)
    answer_quit_box(app, end=False)
    c.close()
    assert c.isVisible() and s.status.state == RUNNING and app.qapp.quits == 0


def test_closing_the_control_window_ends_the_session_with_the_fade_and_the_record(app, qtbot, tmp_path):
    c, s = app.control, app.session
    c.start_button.click()
    qtbot.waitUntil(lambda: s.status.state == RUNNING, timeout=2000)
    wait_ms(500)
    answer_quit_box(app, end=True)
    c.close()
    qtbot.waitUntil(lambda: app.qapp.quits == 1, timeout=5000)
    assert s.engine.status.state == IDLE  # the stop fade and the glide home ran before the windows closed
    doc = json.loads((tmp_path / "log.json").read_text())
    assert doc["sets"][0]["stop_reason"] == "quit" and doc["events"][-1]["kind"] == "session_end"
    assert not app.display.isVisible() and not c.isVisible()
    assert app.inhibitor.calls[-1] == ("release",)
    assert not s.clock._thread.is_alive()  # the clock is closed


def test_ctrl_q_between_sets_ends_the_session_without_asking(app, qtbot, tmp_path):
    action = app.control.quit_action
    assert action.shortcut().matches(QKeySequence("Ctrl+Q")) == QKeySequence.ExactMatch
    assert action.shortcutContext() == Qt.ApplicationShortcut  # from the client display too
    action.trigger()  # (offscreen windows are never active, so a synthetic Ctrl+Q reaches no shortcut)
    qtbot.waitUntil(lambda: app.qapp.quits == 1, timeout=3000)
    doc = json.loads((tmp_path / "log.json").read_text())
    assert doc["sets"] == [] and doc["events"][-1]["kind"] == "session_end"
    kept = list((tmp_path / "data" / "sessions").glob("session-*.json"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["events"] == doc["events"]


def test_a_gentle_preset_with_an_unlocked_value_is_not_saved_and_the_therapist_is_told(app):
    c, s = app.control, app.session
    ask = Answer(app, True)
    c.gentle_check.click()
    c.speed_spin.setValue(0.55)
    assert s.unlocks == {"speed": 0.55} and len(ask.calls) == 1
    fake = script(app)
    fake.details_answers = [("my gentle", "")]
    c.presets.save_as()
    (title, text), = fake.told
    assert "gentle limits" in text and "0.55" in text and "not saved" in text
    assert "my gentle" not in app.library


def test_a_brightness_change_slowed_for_photosafety_is_told(app, qtbot):
    c, s = app.control, app.session
    c.bg_color.setColor("#ffffff")
    c.bg_color.colorChanged.emit("#ffffff")
    qtbot.waitUntil(lambda: "brightness changes over" in c.statusBar().currentMessage(), timeout=2000)
    slowed = [e for e in s.events if e["kind"] == "photosafe_slowed"]
    assert slowed and slowed[0]["seconds"] > 3.0


def test_gentle_mode_ticked_during_a_set_at_2_cycles_per_second_is_inside_within_3_s(app, qtbot):
    c, s = app.control, app.session
    c.speed_spin.setValue(2.0)
    c.start_button.click()
    qtbot.waitUntil(lambda: s.status.state == RUNNING and s.status.speed_cycles_per_s > 1.99, timeout=4000)
    c.gentle_check.click()
    ticked = s.engine.next_frame
    qtbot.waitUntil(lambda: s.engine.next_frame >= ticked + 3 * 48000, timeout=6000)
    assert s.status.speed_cycles_per_s <= 0.5
    samples = []
    qtbot.waitUntil(lambda: (samples.append(s.status.speed_cycles_per_s) or True) and len(samples) > 10, timeout=2000)
    assert max(samples) <= 0.5


def _lin(c):
    import numpy as np

    c = c / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def test_rapid_background_changes_reach_the_client_screen_at_most_three_times_a_second(app, qtbot):
    # measured on the client screen's pixels: a therapist clicking between a black and a white
    # background, every 0.15 s for a while (the screen hardly moves: each click turns it round), then
    # every 1.5 s (it swings); each change of 10 % of full luminance takes >= 1/3 s
    import time

    import numpy as np
    from PySide6.QtGui import QImage

    c, s = app.control, app.session
    base = s.settings
    scr = app.display.screen()
    t0 = time.monotonic()
    seen: list[tuple[float, float]] = []
    flips = 0
    while time.monotonic() - t0 < 6.5:
        due = flips * 0.15 if flips < 8 else 1.2 + (flips - 8) * 1.5
        if time.monotonic() - t0 > due:
            s.set_settings(base.with_("visual", background_color="#ffffff" if flips % 2 == 0 else "#000000"))
            flips += 1
        img = scr.grabWindow(app.display.winId()).toImage().scaled(96, 54).convertToFormat(QImage.Format_RGB888)
        px = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.sizeInBytes()).reshape(54, img.bytesPerLine())
        rgb = px[:, :96 * 3].reshape(54, 96, 3).astype(float)
        lum = 0.2126 * _lin(rgb[..., 0]) + 0.7152 * _lin(rgb[..., 1]) + 0.0722 * _lin(rgb[..., 2])
        seen.append((time.monotonic() - t0, float(lum.mean())))
        qtbot.wait(15)
    t = [a for a, _ in seen]
    y = [b for _, b in seen]
    assert max(y) - min(y) > 0.1  # the screen did change
    done, hi, lo, direction = [], y[0], y[0], 0
    for ti, yi in zip(t, y):  # moves of 0.1 away from the last turning point
        hi, lo = max(hi, yi), min(lo, yi)
        if direction >= 0 and yi <= hi - 0.1:
            done.append(ti)
            direction, lo, hi = -1, yi, yi
        elif direction <= 0 and yi >= lo + 0.1:
            done.append(ti)
            direction, hi, lo = 1, yi, yi
    for t_start in done:
        assert sum(1 for d in done if t_start <= d < t_start + 1.0) <= 3, done
    assert "brightness changes over" in c.statusBar().currentMessage()


def test_a_record_that_cannot_be_written_is_shown_at_once_and_written_when_it_can_be(qapp, tmp_path, qtbot):
    from bls.app import BlsApp

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the log's folder should be")
    log = blocked / "log.json"
    a = BlsApp(qapp, preset="standard", client_screen="CLIENT", log=log, no_audio=True)
    try:
        c = a.control
        assert c.record_label.isVisible()  # at start, before any set
        assert "cannot be written" in c.record_label.text() and "log.json" in c.record_label.text()
        assert "kept in memory" in c.record_label.text()
        blocked.unlink()  # the therapist frees the path
        blocked.mkdir()
        c.start_button.click()
        qtbot.waitUntil(lambda: a.session.status.state == RUNNING, timeout=2000)
        QTest.keyClick(c, Qt.Key_Escape)
        qtbot.waitUntil(lambda: bool(a.session.records), timeout=5000)
        qtbot.waitUntil(lambda: not c.record_label.isVisible(), timeout=2000)
        doc = json.loads(log.read_text())
        # nothing was lost meanwhile: the events of the start-up (the client screen's size, the sleep hold)
        assert [e["kind"] for e in doc["events"]][:2] == ["screen_geometry", "screen_sleep"]
        assert len(doc["sets"]) == 1
    finally:
        a.shutdown()
        a.control.deleteLater()
        a.display.deleteLater()



def test_a_record_that_cannot_be_written_can_be_saved_elsewhere_and_stays_up_to_date(qapp, tmp_path, qtbot,
                                                                                     monkeypatch):
    from bls.app import BlsApp

    blocked = tmp_path / "file"
    blocked.write_text("x")
    monkeypatch.setenv("BLS_DATA_DIR", str(blocked / "data"))  # the data folder cannot exist
    a = BlsApp(qapp, preset="standard", client_screen="CLIENT", no_audio=True)
    try:
        c = a.control
        assert c.record_label.isVisible() and c.record_copy_button.isVisible()
        copy = tmp_path / "usb" / "record.json"
        copy.parent.mkdir()
        monkeypatch.setattr(c, "ask_record_copy_path", lambda: str(copy))
        c.record_copy_button.click()
        first = json.loads(copy.read_text())
        assert [e["kind"] for e in first["events"]][:2] == ["screen_geometry", "screen_sleep"]  # all since the start
        assert f"written to {copy}" in c.record_label.text()
        c.start_button.click()
        qtbot.waitUntil(lambda: a.session.status.state == RUNNING, timeout=2000)
        QTest.keyClick(c, Qt.Key_Escape)
        qtbot.waitUntil(lambda: bool(a.session.records), timeout=5000)
        assert len(json.loads(copy.read_text())["sets"]) == 1  # kept up to date
    finally:
        a.shutdown()
        a.control.deleteLater()
        a.display.deleteLater()
