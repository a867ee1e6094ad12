"""The Headphones tab: the left/right check and the comfort check, driven through the app on a manual
stimulus clock (the test advances the engine's frames itself: what the labels show follows those
frames, never the wall clock)."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from bls.core.clock import AnchorMap
from bls.core.engine import IDLE, RUNNING, SAMPLE_RATE
from bls.ui.style import apply_style


class ManualClock:
    """Takes the engine from the app's clock (which then retires) and advances it on request."""

    def __init__(self, app):
        self.core = app.session.core
        self.token = object()
        engine = self.core.engine
        engine.owner = self.token  # the system clock stand-in can no longer advance the engine
        while engine.busy:
            pass
        self.core.clocks.clock.anchor = None  # what is heard now is the engine's newest frame
        self.core.anchor_map = AnchorMap(SAMPLE_RATE)

    def advance(self, seconds: float) -> None:
        e = self.core.engine
        target = e.next_frame + round(seconds * SAMPLE_RATE)
        while e.next_frame < target:
            e.process(min(2400, target - e.next_frame), None, self.token)
            self.core.poll()


@pytest.fixture
def hp_app(qapp):
    from bls.app import BlsApp

    apply_style(qapp)
    app = BlsApp(qapp, preset="standard", client_screen="CLIENT")  # the tone on, as in the preset
    app.session.core.settings_changed  # noqa: B018 - the app is built
    clock = ManualClock(app)
    app.control.tabs.setCurrentWidget(app.control.headphones_page)
    yield app, clock
    app.shutdown()
    app.control.deleteLater()
    app.display.deleteLater()
    qapp.processEvents()


def kinds(app):
    return [e["kind"] for e in app.session.core.record.events]


def test_the_left_right_button_plays_the_check_and_the_label_follows_the_stimulus_clock(hp_app, qtbot):
    app, clock = hp_app
    lr = app.control.headphones.left_right
    assert lr.isVisible() and lr.phase_label.text() == ""
    qtbot.mouseClick(lr.play_button, Qt.LeftButton)
    assert app.session.core.check_kind == "left_right" and "headphone_check" in kinds(app)
    for t, words in ((0.6, "Left ear…"), (1.3, "Right ear…"), (1.6, "Both, moving across…")):
        clock.advance(t)
        qtbot.waitUntil(lambda words=words: lr.phase_label.text() == words, timeout=2000)
        assert not lr.play_button.isEnabled()
    assert app.control.state_label.text() == "Headphone check"
    clock.advance(2.0)  # 5.5 s in: over
    qtbot.waitUntil(lambda: lr.phase_label.text() == "" and lr.play_button.isEnabled(), timeout=2000)
    assert app.session.core.check_kind == "" and app.session.core.record.sets == []
    assert app.control.state_label.text() == "Ready"


def test_h_plays_the_check_and_is_refused_during_a_set(hp_app, qtbot):
    app, clock = hp_app
    app.control.centralWidget().setFocus()
    QTest.keyClick(app.control, Qt.Key_H)
    assert app.session.core.check_kind == "left_right"
    QTest.keyClick(app.control, Qt.Key_Escape)  # Esc ends it gently
    clock.advance(0.5)
    assert app.session.core.check_kind == ""
    assert app.session.core.record.events[-1]["reason"] == "stopped"
    QTest.keyClick(app.control, Qt.Key_Space)
    clock.advance(0.5)
    assert app.session.status.state == RUNNING
    QTest.keyClick(app.control, Qt.Key_H)
    assert app.session.core.check_kind == ""
    assert "between sets" in app.control.statusBar().currentMessage()
    QTest.keyClick(app.control, Qt.Key_Escape)
    clock.advance(3.0)
    assert app.session.status.state == IDLE


def test_the_client_screen_can_say_left_and_right(hp_app, qtbot):
    app, clock = hp_app
    lr = app.control.headphones.left_right
    lr.on_client.setChecked(True)
    lr.play_button.click()
    assert app.session.core.check_on_client
    assert [e for e in app.session.core.record.events if e["kind"] == "headphone_check"][0]["on_client"] is True


def test_the_comfort_level_is_turned_up_and_kept_for_the_session(hp_app, qtbot):
    app, clock = hp_app
    comfort = app.control.headphones.comfort
    assert not comfort.keep_button.isEnabled()
    start = app.session.settings.audio.level_dbfs
    qtbot.mouseClick(comfort.play_button, Qt.LeftButton)
    clock.advance(1.0)
    assert comfort.keep_button.isEnabled() and comfort.up_button.isEnabled()
    qtbot.mouseClick(comfort.up_button, Qt.LeftButton)
    QTest.keyClick(app.control, Qt.Key_Plus)
    qtbot.mouseClick(comfort.down_button, Qt.LeftButton)
    qtbot.mouseClick(comfort.up_button, Qt.LeftButton)
    assert app.session.core.comfort_dbfs == start + 4.0
    assert comfort.level_label.text().startswith(f"{start + 4.0:g} dBFS") and "-12" in comfort.level_label.text()
    qtbot.mouseClick(comfort.keep_button, Qt.LeftButton)
    clock.advance(1.0)
    assert app.session.settings.audio.level_dbfs == start + 4.0
    qtbot.waitUntil(lambda: not comfort.keep_button.isEnabled(), timeout=2000)
    assert comfort.level_label.text() == f"set level {start + 4.0:g} dBFS"
    assert "comfort_level" in kinds(app) and app.session.core.record.sets == []


def test_the_comfort_tone_never_goes_above_the_cap(hp_app, qtbot):
    app, clock = hp_app
    comfort = app.control.headphones.comfort
    comfort.play_button.click()
    for _ in range(20):
        comfort.up_button.click()
    assert app.session.core.comfort_dbfs == -12.0
    comfort.stop_button.click()
    clock.advance(1.0)
    assert app.session.core.check_kind == "" and app.session.settings.audio.level_dbfs != -12.0


def test_the_client_screen_says_left_then_right_only_when_asked(hp_app, qtbot):
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtCore import QRectF

    app, clock = hp_app
    lr = app.control.headphones.left_right

    def client_frame():
        # what the client screen paints now (the heard frame), through the display's own paint
        img = QImage(480, 270, QImage.Format_RGB32)
        p = QPainter(img)
        app.display.core.paint(p, QRectF(0, 0, 480, 270), 0.0)
        p.end()
        return img

    def lit(img):  # pixels brighter than the dark background
        return sum(1 for y in range(0, 270, 3) for x in range(0, 480, 3) if img.pixelColor(x, y).lightness() > 60)

    lr.play_button.click()  # not asked: nothing written
    clock.advance(0.6)
    assert not app.display.core.say_check and lit(client_frame()) == 0
    clock.advance(4.5)
    lr.on_client.setChecked(True)
    lr.play_button.click()
    assert app.display.core.say_check
    clock.advance(0.6)
    left = client_frame()
    assert lit(left) > 0
    clock.advance(1.3)
    right = client_frame()
    assert lit(right) > 0 and right != left
    clock.advance(3.5)  # over: the word goes
    assert not app.display.core.say_check and lit(client_frame()) == 0
