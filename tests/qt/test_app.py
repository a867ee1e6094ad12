"""The app as a therapist uses it: screens by name, keys, controls, presets, the set log."""

import json
import os
import subprocess
import sys

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from bls.app import plan_screens
from bls.core.engine import IDLE, PAUSED, RUNNING
from bls.core.paths import config_dir
from bls.core.preset import Motion, Preset, Timing, dump_preset

from .conftest import wait_ms


def test_screens_are_planned_by_name(qapp):
    client, therapist, fullscreen, note = plan_screens("CLIENT")
    assert (client.name(), therapist.name(), fullscreen, note) == ("CLIENT", "THERAPIST", True, "")
    client, therapist, fullscreen, note = plan_screens("THERAPIST")
    assert client.name() == "THERAPIST" and therapist.name() == "CLIENT" and fullscreen
    client, _, fullscreen, note = plan_screens("HDMI-9")
    assert fullscreen and "HDMI-9" in note and "not connected" in note


def test_client_display_lands_on_the_screen_named_client(bls_app):
    d = bls_app.display
    client = next(s for s in QGuiApplication.screens() if s.name() == "CLIENT")
    assert d.screen().name() == "CLIENT"
    assert d.geometry() == client.geometry()
    assert d.isVisible() and bls_app.control.isVisible()
    assert bls_app.control.screen().name() == "THERAPIST"


def test_the_client_screen_is_remembered_by_name(bls_app, qapp):
    bls_app.move_client("THERAPIST")
    assert bls_app.display.screen().name() == "THERAPIST"
    assert json.loads((config_dir() / "ui.json").read_text())["client_screen"] == "THERAPIST"
    bls_app.move_client("CLIENT")
    from bls.app import BlsApp

    again = BlsApp(qapp, preset="standard", no_audio=True)  # no screen given: the remembered one
    try:
        assert again.display.screen().name() == "CLIENT"
    finally:
        again.shutdown()


def on_one_screen(tmp_path, width: int, height: int, show: str, client: tuple[int, int] | None = None) -> str:
    """Start the app in a child process on a single offscreen screen (and a client screen of ``client``
    pixels to its right, if given) and print ``show`` (an expression over ``app``); returns what it printed."""
    cfg = tmp_path / "one.json"
    dpi = {"logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}
    screens = [{"name": "ONLY", "x": 0, "y": 0, "width": width, "height": height, **dpi}]
    if client:
        screens.append({"name": "CLIENT", "x": width, "y": 0, "width": client[0], "height": client[1], **dpi})
    cfg.write_text(json.dumps({"screens": screens, "windowFrameMargins": False}))
    code = ("from PySide6.QtCore import Qt\n"
            "from PySide6.QtWidgets import QApplication\n"
            "from bls.app import BlsApp\n"
            "a = QApplication([])\n"
            f"app = BlsApp(a, preset='standard', no_audio=True, client_screen={'CLIENT' if client else None!r})\n"
            "for _ in range(5):\n    a.processEvents()  # laid out as the therapist sees it\n"
            f"print({show})\n"
            "app.shutdown()\n")
    env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={cfg}")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_one_screen_opens_a_window_and_says_so(tmp_path):
    out = on_one_screen(tmp_path, 1600, 900,
                        "app._fullscreen, app.display.geometry().width() < 1600, app.control.screen_note.text()")
    assert out.startswith("False True Only one screen is connected")


def test_on_one_1080p_screen_the_two_windows_sit_side_by_side(tmp_path):
    c, d = "app.control.frameGeometry()", "app.display.geometry()"
    out = on_one_screen(tmp_path, 1920, 1080, f"{c}.intersects({d}), {c}.left() >= 0, {d}.right() < 1920, "
                                              f"abs({d}.width() / {d}.height() - 16 / 9) < 0.01")
    assert out.split() == ["False", "True", "True", "True"]


@pytest.mark.parametrize("size", [(1280, 720), (1366, 768)])
def test_on_a_small_laptop_screen_every_section_is_in_view_without_scrolling(tmp_path, size):
    # 1280×720 is a laptop at 150 % scaling; the client screen is a second monitor
    w, h = size
    cards = "[app.control.motion_card, app.control.target_card, app.control.sound_card, app.control.timing_card]"
    out = on_one_screen(tmp_path, w, h, "app.control.settings_scroll.verticalScrollBar().maximum(), "
                                        "app.control.settings_scroll.horizontalScrollBar().maximum(), "
                                        f"app.control.frameGeometry().right() < {w}, app.control.frameGeometry().bottom() < {h}, "
                                        "all(app.control.settings_scroll.viewport().rect().contains("
                                        "c.mapTo(app.control.settings_scroll.viewport(), c.rect().bottomRight())) "
                                        f"for c in {cards}), "
                                        "app.control.tabs.height() >= 200, "
                                        # a real desktop takes a title bar and a panel (~35 px each) off the height
                                        f"app.control.minimumSizeHint().height() <= {h} - 80", client=(1920, 1080))
    assert out.split() == ["0", "0", "True", "True", "True", "True", "True"]


def test_mid_session_texts_never_push_the_settings_into_one_scrolled_column(bls_app, qtbot):
    # what a session writes into the left column (a new target, a count of sets, the rest on the Start
    # button) must not widen it so far that the settings beside it stack and scroll on 1280×720
    c = bls_app.control
    assert c.screen().geometry().size().toTuple() == (1280, 720)
    qtbot.waitUntil(lambda: c.isVisible(), timeout=2000)
    bls_app.load_preset("gentle")  # its readouts are among the widest
    qtbot.waitUntil(lambda: bls_app.session.settings.name == "gentle", timeout=2000)
    c.session_panel.target_button.setText("New target…")
    c.tabs.setTabText(0, "Session · 12 sets")
    c.start_button.setText("Start  (Space)  ·  rest 10:00")
    c.resize(1240, 680)
    for _ in range(10):  # the layouts settle (posted layout requests), as before the therapist sees them
        QApplication.processEvents()
    assert c.tabs.width() < 520  # the left column did not grow
    bar = c.tabs.tabBar()  # every tab in view, none behind scroll arrows
    assert all(bar.tabRect(i).right() < bar.width() for i in range(bar.count()))
    assert not c._stacked and c.settings_scroll.verticalScrollBar().maximum() == 0


def test_on_one_small_screen_the_client_window_stays_in_view_on_top(tmp_path):
    # 1280×720: the control window cannot fit beside the client window; the client window stays on top,
    # inside the screen, and the settings stack into one scrolled column
    c, d = "app.control.frameGeometry()", "app.display.geometry()"
    out = on_one_screen(tmp_path, 1280, 720, f"{c}.intersects({d}), bool(app.display.flags() & Qt.WindowStaysOnTopHint), "
                                             f"{d}.left() >= 0, {d}.right() < 1280, {d}.bottom() < 720, "
                                             f"{c}.right() < 1280, app.control._stacked")
    assert out.split() == ["True", "True", "True", "True", "True", "True", "True"]


def press(widget, key):
    QTest.keyClick(widget, key)


def test_space_starts_pauses_resumes_and_esc_stops(bls_app, qtbot):
    s = bls_app.session
    press(bls_app.control, Qt.Key_Space)
    qtbot.waitUntil(lambda: s.status.state == RUNNING, timeout=2000)
    press(bls_app.control, Qt.Key_Space)
    qtbot.waitUntil(lambda: s.status.state == PAUSED, timeout=2000)
    press(bls_app.control, Qt.Key_Space)
    qtbot.waitUntil(lambda: s.status.state == RUNNING, timeout=2000)
    press(bls_app.control, Qt.Key_Escape)
    qtbot.waitUntil(lambda: s.status.state == IDLE, timeout=4000)
    assert s.records and s.records[-1]["stop_reason"] == "stopped"
    assert bls_app.control.state_label.text() == "Ready"


def test_keys_work_in_the_client_display_too(bls_app, qtbot):
    s = bls_app.session
    QTest.keyClick(bls_app.display, Qt.Key_PageDown)
    qtbot.waitUntil(lambda: s.status.state == RUNNING, timeout=2000)
    QTest.keyClick(bls_app.display, Qt.Key_B)
    qtbot.waitUntil(lambda: s.status.state == IDLE, timeout=4000)
    QTest.keyClick(bls_app.display, Qt.Key_PageDown)
    qtbot.waitUntil(lambda: s.status.state == RUNNING, timeout=2000)
    QTest.keyClick(bls_app.display, Qt.Key_PageUp)
    qtbot.waitUntil(lambda: s.status.state == IDLE, timeout=4000)
    assert [r["stop_reason"] for r in s.records] == ["stopped", "stopped"]


def test_typing_a_decimal_into_a_number_field_mid_set_does_not_stop_the_set(bls_app, qtbot):
    s, c = bls_app.session, bls_app.control
    c.start_button.click()
    qtbot.waitUntil(lambda: s.status.state == RUNNING, timeout=2000)
    for field, text, value in ((c.speed_spin, "0.8", 0.8), (c.fade_in, "2.5", 2.5)):
        field.setFocus()
        field.selectAll()
        QTest.keyClicks(field, text)
        QTest.keyClick(field, Qt.Key_Return)
        assert field.value() == pytest.approx(value)
        wait_ms(100)
        assert s.status.state == RUNNING and not s.records  # '.' was typed, not taken as Stop
    c.centralWidget().setFocus()
    QTest.keyClick(c, Qt.Key_Period)  # outside a field '.' still stops (presenter clickers send it)
    qtbot.waitUntil(lambda: s.status.state == IDLE, timeout=4000)


def wheel(widget, notches: int) -> None:
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    pos = QPointF(widget.width() / 2, widget.height() / 2)
    ev = QWheelEvent(pos, QPointF(widget.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, 120 * notches),
                     Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False)
    QApplication.sendEvent(widget, ev)


def test_a_wheel_turned_over_a_control_without_focus_changes_nothing(bls_app):
    s, c = bls_app.session, bls_app.control
    before = s.settings
    c.centralWidget().setFocus()
    for w in (c.tone_combo, c.path_combo, c.mode_combo, c.screen_combo, c.speed_spin, c.speed_slider, c.fade_in,
              c.level_slider.slider, c.output_combo, c.presets.combo):
        wheel(w, -2)
        wheel(w, 3)
    assert s.settings == before and c.presets.loaded == "standard"
    c.speed_spin.setFocus()  # clicked first: then the wheel is the therapist's intent
    wheel(c.speed_spin, 1)
    assert s.settings.motion.speed_cycles_per_s > before.motion.speed_cycles_per_s


def test_a_wheel_over_an_unfocused_control_scrolls_the_column_instead(bls_app, qapp):
    from PySide6.QtCore import QPoint
    from PySide6.QtWidgets import QScrollArea

    c = bls_app.control
    c.resize(900, 420)  # a short window: the settings column scrolls
    qapp.processEvents()
    scroll = next(a for a in c.findChildren(QScrollArea) if a.widget() and a.widget().isAncestorOf(c.speed_slider))
    bar = scroll.verticalScrollBar()
    assert bar.maximum() > 100
    c.centralWidget().setFocus()
    before = bls_app.session.settings
    for w in (c.speed_slider, c.speed_spin, c.path_combo):
        bar.setValue(0)
        qapp.processEvents()
        pos = w.mapTo(c, QPoint(w.width() // 2, w.height() // 2))
        QTest.wheelEvent(c.windowHandle(), pos, QPoint(0, -120))  # a real (spontaneous) wheel notch
        qapp.processEvents()
        assert bar.value() > 0, w  # the column scrolled ...
    assert bls_app.session.settings == before  # ... and no setting changed


def test_a_clickers_b_stops_the_set_even_from_a_number_field(bls_app, qtbot):
    s, c = bls_app.session, bls_app.control
    c.start_button.click()
    qtbot.waitUntil(lambda: s.status.state == RUNNING, timeout=2000)
    c.speed_spin.setFocus()  # B is never typed into a number
    QTest.keyClick(c.speed_spin, Qt.Key_B)
    qtbot.waitUntil(lambda: s.status.state == IDLE, timeout=4000)


def test_up_down_change_speed_and_the_controls_follow(bls_app):
    s, c = bls_app.session, bls_app.control
    press(c, Qt.Key_Up)
    press(c, Qt.Key_Up)
    assert s.settings.motion.speed_cycles_per_s == pytest.approx(1.10)
    press(c, Qt.Key_Down)
    assert s.settings.motion.speed_cycles_per_s == pytest.approx(1.05)
    assert c.speed_spin.value() == pytest.approx(1.05)
    assert "126 passes/min" in c.speed_readout.text()
    for _ in range(60):
        press(c, Qt.Key_Up)
    assert s.settings.motion.speed_cycles_per_s == pytest.approx(2.0)  # the hard limit holds


def test_arrow_keys_belong_to_a_focused_spin_box(bls_app):
    c = bls_app.control
    c.passes_spin.setFocus()
    QTest.keyClick(c.passes_spin, Qt.Key_Up)
    assert c.passes_spin.value() == 25
    assert bls_app.session.settings.motion.set_passes == 25
    assert bls_app.session.settings.motion.speed_cycles_per_s == pytest.approx(1.0)


def test_controls_change_the_live_settings_and_mark_the_preset_modified(bls_app):
    c, s = bls_app.control, bls_app.session
    bls_app.load_preset("standard")  # the fixture turned the tone off; the preset has it on
    assert c.presets.modified.isHidden()
    c.speed_spin.setValue(1.2)
    assert s.settings.motion.speed_cycles_per_s == pytest.approx(1.2)
    assert "144 passes/min" in c.speed_readout.text() and "0.42 s/pass" in c.speed_readout.text()
    c.path_combo.setCurrentIndex(c.path_combo.findData("vertical"))
    c.tone_combo.setCurrentIndex(c.tone_combo.findData("warm"))
    c.level_slider.setValue(-30)
    assert (s.settings.motion.path, s.settings.audio.tone, s.settings.audio.level_dbfs) == ("vertical", "warm", -30)
    assert not c.presets.modified.isHidden() and c.presets.revert_button.isEnabled()
    bls_app.load_preset("slow")
    assert c.speed_spin.value() == pytest.approx(0.5) and s.settings.name == "slow"
    assert c.presets.modified.isHidden()


def test_a_set_runs_its_passes_and_is_logged(private_config_dir, qapp, qtbot, tmp_path):
    presets = private_config_dir / "presets"
    presets.mkdir(parents=True)
    quick = Preset(name="quick", motion=Motion(speed_cycles_per_s=2.0, set_passes=4),
                   timing=Timing(fade_in_s=0.1, fade_out_s=0.2)).with_("audio", enabled=False)
    (presets / "quick.yaml").write_text(dump_preset(quick))
    from bls.app import BlsApp

    app = BlsApp(qapp, preset="quick", client_screen="CLIENT", log=tmp_path / "log.json", no_audio=True)
    try:
        app.control.start_button.click()
        qtbot.waitUntil(lambda: bool(app.session.records), timeout=8000)
        rec = app.session.records[0]
        assert rec["passes_delivered"] == 4 and rec["stop_reason"] == "complete"
        assert rec["client_screen"] == "CLIENT" and rec["refresh_hz"] == 60.0
        assert "4 passes" in app.control.last_set.text()
        assert app.control.pass_label.text() == "4" and app.control.pass_of.text() == "of 4 passes"
        # a longer set chosen afterwards: the counter speaks of the next set, never "4 of 12 passes"
        app.control.passes_spin.setValue(12)
        qtbot.waitUntil(lambda: app.session.settings.motion.set_passes == 12, timeout=2000)
        assert (app.control.pass_label.text(), app.control.pass_of.text()) == ("0", "of 12 passes")
        log = json.loads((tmp_path / "log.json").read_text())
        assert log["schema_version"] == 2 and log["sets"][0]["passes_delivered"] == 4
        assert log["sets"][0]["audio_device"] is None and log["sets"][0]["audio_status"] == "Audio off"
        # the same record is kept in the data folder (--log writes a copy)
        (kept,) = (tmp_path / "data" / "sessions").glob("session-*.json")
        assert json.loads(kept.read_text())["sets"] == log["sets"]
    finally:
        app.shutdown()


def test_audio_status_is_shown(bls_app, qtbot):
    assert "Audio off" in bls_app.control.audio_label.text()
    bls_app.control.audio_check.setChecked(True)  # idle: the session tries the (missing) device now
    qtbot.waitUntil(lambda: "No sound" in bls_app.control.audio_label.text(), timeout=2000)
    assert "bls-test-no-such-device" in bls_app.control.audio_label.text()


def test_an_unknown_preset_is_refused(qapp):
    from bls.app import BlsApp

    with pytest.raises(KeyError, match="no preset named 'nosuch'"):
        BlsApp(qapp, preset="nosuch", no_audio=True)


def test_the_status_bar_counts_dropped_frames_of_the_set_not_of_the_idle_screen(bls_app, qtbot):
    c, s = bls_app.control, bls_app.session
    bls_app._show_info()
    assert "hitch" not in c.display_label.text() and c.display_label.text().startswith("Client: CLIENT")
    bls_app.display.core.frames.dropped += 7  # frames dropped while idle: nobody watched them
    c.start_button.click()
    qtbot.waitUntil(lambda: s.status.state == RUNNING, timeout=2000)
    real = s.dropped_in_set(s.display_info())  # frames the offscreen display really dropped (a loaded machine)
    bls_app.display.core.frames.dropped += 2  # two during the set
    bls_app._show_info()
    assert c.display_label.text().endswith(f"this set: {real + 2} brief hitches in the motion")
    QTest.keyClick(c, Qt.Key_Escape)
    qtbot.waitUntil(lambda: len(s.records) == 1, timeout=4000)
    bls_app._show_info()
    n = s.records[-1]["dropped_frames"]
    assert n >= 2 and c.display_label.text().endswith(f"last set: {n} brief hitches in the motion")
    assert "dropped frame" in c.display_label.toolTip()  # the plain word, explained


def _rgb(img, x, y):
    c = img.pixelColor(int(x), int(y))
    return c.red(), c.green(), c.blue()


def test_between_sets_the_preview_shows_the_look_faintly_while_the_client_screen_stays_empty(bls_app, qtbot):
    from bls.ui.control_window import IDLE_PREVIEW_OPACITY

    c, s = bls_app.control, bls_app.session
    wait_ms(200)
    bg = QColor(s.settings.visual.background_color)
    bg = (bg.red(), bg.green(), bg.blue())
    client = bls_app.display.screen().grabWindow(bls_app.display.winId()).toImage()
    assert _rgb(client, client.width() / 2, client.height() / 2) == bg  # the client sees nothing
    preview = c.preview.grab().toImage()
    centre = _rgb(preview, preview.width() / 2, preview.height() / 2)
    target = QColor(s.settings.visual.target_color)
    # the target's look, at IDLE_PREVIEW_OPACITY over the background
    for ch, b, t in zip(centre, bg, (target.red(), target.green(), target.blue())):
        assert abs(ch - (b + IDLE_PREVIEW_OPACITY * (t - b))) <= 3
    c.show_target.setChecked(False)  # target off: nothing to preview
    qtbot.waitUntil(lambda: abs(sum(_rgb(c.preview.grab().toImage(), preview.width() / 2, preview.height() / 2))
                                - sum(bg)) <= 6, timeout=4000)


def test_a_monitor_that_is_not_the_clients_coming_or_going_leaves_the_client_display_alone(bls_app, monkeypatch):
    hidden = []
    monkeypatch.setattr(bls_app.display, "hide", lambda: hidden.append(1))
    bls_app._screens_changed()  # e.g. a projector plugged in: the same plan for the client display
    assert hidden == [] and bls_app.display.isVisible()
    assert bls_app.display.geometry() == next(s for s in QGuiApplication.screens() if s.name() == "CLIENT").geometry()


def test_the_clients_screen_gone_mid_set_pauses_and_the_display_moves_onto_a_connected_screen(bls_app, qtbot,
                                                                                            monkeypatch):
    # (tests/e2e/test_monitor_unplug.py does the same on a real two-monitor X server)
    c, s = bls_app.control, bls_app.session
    c.start_button.click()
    qtbot.waitUntil(lambda: s.status.state == "running", timeout=2000)
    therapist = next(x for x in QGuiApplication.screens() if x.name() == "THERAPIST")
    monkeypatch.setattr("bls.app.connected_screens", lambda: [therapist])
    bls_app._screens_changed()
    qtbot.waitUntil(lambda: s.status.state == "paused", timeout=3000)
    g = bls_app.display.geometry()
    assert therapist.geometry().contains(g) and bls_app.display.isVisible()
    assert "disconnected" in c.screen_note.text() and "CLIENT" in c.screen_note.text()
    monkeypatch.undo()
    bls_app._screens_changed()  # plugged back
    assert bls_app.display.screen().name() == "CLIENT" and bls_app._fullscreen
    assert s.status.state == "paused"  # the therapist resumes
    kinds = [(e["kind"], e.get("connected")) for e in s.events if e["kind"] == "screen_change"]
    assert kinds == [("screen_change", False), ("screen_change", True)]


def test_the_app_and_its_windows_carry_the_bls_icon(bls_app, qapp):
    from bls.app import identify

    before = qapp.windowIcon()
    identify(qapp)
    try:
        for icon in (qapp.windowIcon(), bls_app.control.windowIcon()):
            assert not icon.isNull()
            image = icon.pixmap(64, 64).toImage()
            assert not image.isNull() and image.width() > 0
            # the icon's two dots are the muted teal #2f7f7a: the middle of the left dot is that colour
            c = image.pixelColor(round(image.width() * 68 / 256), image.height() // 2)
            assert (c.red(), c.green(), c.blue()) == (0x2F, 0x7F, 0x7A), c.name()
    finally:
        qapp.setWindowIcon(before)
