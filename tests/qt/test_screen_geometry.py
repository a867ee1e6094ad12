"""The client screen in degrees, through the app (issue 11): the size fields prefill from the screen,
edits are remembered per screen name, the readouts show degrees, and a preset in degrees draws a target
of the right number of pixels on the client screen.

The client screen is the named offscreen screen "CLIENT" (1920 x 1080 px, tests/conftest.py). Its
physical size comes in at the app's seam (``bls.app.physical_size_mm``): a 531 x 299 mm monitor, or
nothing reported. Expected angles are computed here from 2·atan(s / 2d)."""

import math

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage

import bls.app as app_module
from bls.core.preset import Preset, dump_preset
from bls.ui.style import apply_style

W_MM, H_MM = 531.0, 299.0


def deg(size_mm, distance_mm):
    return math.degrees(2 * math.atan(size_mm / 2 / distance_mm))


def make_app(qapp, monkeypatch, size=(W_MM, H_MM)):
    monkeypatch.setattr(app_module, "physical_size_mm",
                        lambda screen: size if screen.name() == "CLIENT" else (0.0, 0.0))
    apply_style(qapp)
    return app_module.BlsApp(qapp, preset="standard", client_screen="CLIENT", no_audio=True)


def close(app, qapp):
    app.shutdown()
    app.control.deleteLater()
    app.display.deleteLater()
    qapp.processEvents()


@pytest.fixture
def apps(qapp, monkeypatch):
    made, closed = [], []

    def make(size=(W_MM, H_MM)):
        made.append(make_app(qapp, monkeypatch, size))
        return made[-1]
    make.close = lambda app: (close(app, qapp), closed.append(app))
    yield make
    for app in made:
        if app not in closed:
            close(app, qapp)


def fields(app):
    return app.control.geometry_fields


def type_into(qtbot, edit, text):
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key_Return)


def test_the_size_fields_prefill_from_the_screen(apps):
    f = fields(apps())
    assert (f.width_edit.text(), f.height_edit.text()) == ("531", "299")
    assert f.source_label.text() == "(from the screen)" and not f.reset_button.isEnabled()
    assert f.distance_spin.value() == 60
    widest = deg(W_MM - 2 * 0.05 * H_MM / 2 * (1 + 0.15 / 2), 600)  # standard: 5 % high, 15 % soft
    assert f.note.text() == f"At 60 cm this screen shows sweeps up to {widest:.1f}° wide."


def test_qt_s_own_report_of_the_offscreen_screen_is_taken(qapp, monkeypatch):
    # without the seam replaced: Qt reports the offscreen screen at 100 dpi (1920 px = 487.68 mm)
    apply_style(qapp)
    app = app_module.BlsApp(qapp, preset="standard", client_screen="CLIENT", no_audio=True)
    try:
        f = fields(app)
        assert (f.width_edit.text(), f.height_edit.text()) == ("487.7", "274.3")
    finally:
        close(app, qapp)


def test_the_readouts_show_degrees_next_to_the_percent(apps):
    app = apps()
    c = app.control
    sweep = deg(0.85 * W_MM, 600)  # 85 % of the width (the target's edge does not limit it there)
    target = deg(0.05 * H_MM, 600)
    assert c.sweep_slider.label.text() == f"85 % wide · {sweep:.1f}°"
    assert c.size_slider.label.text() == f"5.0 % high · {target:.1f}°"
    assert c.angle_note.text() == ""
    # the distance moves the degrees; the % stays
    fields(app).distance_spin.setValue(120)
    assert c.sweep_slider.label.text() == f"85 % wide · {deg(0.85 * W_MM, 1200):.1f}°"
    assert app.session.settings.motion.sweep_width_pct == 85.0


def test_edits_are_remembered_per_screen_name_and_read_back_by_a_new_window(apps, qtbot, qapp):
    app = apps()
    f = fields(app)
    type_into(qtbot, f.width_edit, "600")
    type_into(qtbot, f.height_edit, "340")
    f.distance_spin.setValue(80)
    assert f.source_label.text() == "(entered)" and f.reset_button.isEnabled()
    g = app.session.core.geometry
    assert (g.width_mm, g.height_mm, g.distance_cm) == (600.0, 340.0, 80.0)
    assert app.control.sweep_slider.label.text() == f"85 % wide · {deg(0.85 * 600, 800):.1f}°"
    apps.close(app)
    f2 = fields(apps())
    assert (f2.width_edit.text(), f2.height_edit.text(), f2.distance_spin.value()) == ("600", "340", 80)
    assert f2.source_label.text() == "(entered)"
    f2.reset_button.click()  # back to the screen's own size; the distance stays
    assert (f2.width_edit.text(), f2.source_label.text(), f2.distance_spin.value()) == ("531", "(from the screen)", 80)


def test_bad_input_gets_a_message_and_loses_nothing(apps, qtbot):
    app = apps()
    f = fields(app)
    before = app.session.core.geometry
    type_into(qtbot, f.width_edit, "20")
    assert f.note.text() == "A width of 20 mm is out of range: allowed 50 to 3000 mm. The size is not changed."
    assert f.width_edit.text() == "20"  # what was typed stays, to be corrected
    assert app.session.core.geometry == before
    type_into(qtbot, f.width_edit, "wide")
    assert "is not a number of millimetres" in f.note.text() and f.width_edit.text() == "wide"
    type_into(qtbot, f.width_edit, "540,5")  # a decimal comma is a point
    assert app.session.core.geometry.width_mm == 540.5 and "sweeps up to" in f.note.text()


def test_an_unknown_size_says_so_and_shows_no_degrees(apps):
    app = apps(size=(0.0, 0.0))
    c, f = app.control, fields(app)
    assert (f.width_edit.text(), f.source_label.text()) == ("", "(not known)")
    assert f.note.text() == ("Degrees need the screen's size: the screen does not report its size. "
                             "Measure the picture and enter it.")
    assert c.sweep_slider.label.text() == "85 % wide · –°" and c.size_slider.label.text() == "5.0 % high · –°"
    assert c.angle_note.text() == "Set the client screen's size (Client display) to see degrees."


def test_a_sweep_wider_than_the_screen_shows_is_told(apps):
    app = apps()
    app.session.load_preset(Preset(name="wide").with_("motion", sweep_width_deg=70.0), "wide")
    assert app.session.settings.motion.sweep_width_pct == 100.0
    widest = deg(W_MM - 2 * 0.05 * H_MM / 2 * (1 + 0.15 / 2), 600)
    assert app.control.angle_note.text() == (f"The screen shows at most {widest:.1f}° at 60 cm; the sweep is "
                                             "100 % of the screen (asked: 70.0°).")


def grab_client(app):
    screen = next(s for s in QGuiApplication.screens() if s.name() == "CLIENT")
    img = screen.grabWindow(app.display.winId()).toImage().convertToFormat(QImage.Format_RGB888)
    arr = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.sizeInBytes())
    arr = arr.reshape(img.height(), img.bytesPerLine())
    return arr[:, : img.width() * 3].reshape(img.height(), img.width(), 3).astype(int)


def test_a_target_in_degrees_spans_the_expected_pixels_on_the_client_screen(apps, qtbot):
    app = apps()
    preset = (Preset(name="deg").with_("motion", set_mode="free", speed_cycles_per_s=0.2)
              .with_("visual", target_diameter_deg=4.0, target_softness_pct=0.0, target_color="#ffffff",
                     background_color="#000000"))
    app.session.load_preset(preset, "deg")
    want_pct = 2 * 600 * math.tan(math.radians(4.0) / 2) / H_MM * 100
    assert app.session.settings.visual.target_diameter_pct == pytest.approx(want_pct, abs=1e-3)
    app.start_set()
    core = app.session.core

    def full():  # faded in, and the look has glided to the new size
        s = core.engine.sample(core.engine.next_frame)
        return s.opacity >= 0.999 and abs(s.look.diameter_pct - want_pct) < 1e-3
    qtbot.waitUntil(full, timeout=10000)
    want_px = want_pct / 100 * 1080  # 4° at 60 cm on a 299 mm high, 1080 px high screen

    def measured():
        bright = grab_client(app)[:, :, 0] > 127  # half brightness: the visible diameter
        return int(bright.sum(axis=0).max())
    qtbot.waitUntil(lambda: abs(measured() - want_px) <= 2, timeout=5000)
    assert abs(measured() - want_px) <= 2, (measured(), want_px)


def test_a_preset_in_degrees_is_not_modified_by_playing_on_this_screen(apps, private_config_dir):
    folder = private_config_dir / "presets"
    folder.mkdir(parents=True)
    p = Preset(name="in degrees").with_("motion", sweep_width_deg=30.0).with_("visual", target_diameter_deg=1.0)
    (folder / "in-degrees.yaml").write_text(dump_preset(p), encoding="utf-8")
    app = apps()
    app.load_preset("in degrees")
    panel = app.control.presets
    assert app.session.settings.motion.sweep_width_pct == pytest.approx(
        2 * 600 * math.tan(math.radians(15.0)) / W_MM * 100, abs=1e-3)
    assert not panel.modified.isVisibleTo(panel)  # the % set from the degrees is the preset, as it plays here
    app.session.set_settings(app.session.settings.with_("motion", speed_cycles_per_s=1.5))
    assert panel.modified.isVisibleTo(panel)
