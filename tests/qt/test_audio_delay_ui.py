"""The Headphones tab's "Audio delay" section: the delay shown and kept for the output playing, the
calibration started and stopped from it, and the calibration's flash seen on the client screen. The
sound card is faked as in test_audio_output (which output plays, not PortAudio)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter

from bls.core import avdelay
from bls.core.engine import IDLE
from bls.core.room import RoomSettings
from bls.ui.audio_delay import CALIBRATE_HINT, AudioDelaySection

from .test_audio_output import app, choose, opened  # noqa: F401 - fixtures


def section(app) -> AudioDelaySection:  # noqa: F811
    found = app.control.headphones_page.findChildren(AudioDelaySection)
    assert len(found) == 1
    return found[0]


def test_the_delay_is_kept_for_each_output_and_shown_again_when_it_plays(app, qtbot):  # noqa: F811
    s = section(app)
    core = app.session.core
    qtbot.waitUntil(lambda: core.delay_output == "default")
    assert s.spin.isEnabled() and "“default”" in s.output_label.text()
    s.spin.setValue(150)
    assert core.audio_delay_ms == 150.0
    assert RoomSettings().get("outputs", "default") == {"audio_delay_ms": 150.0}  # the test's own config dir
    choose(app.control.output_combo, "HDMI 1")
    qtbot.waitUntil(lambda: core.delay_output == "HDMI 1")
    assert s.spin.value() == 0 and "“HDMI 1”" in s.output_label.text()
    s.spin.setValue(-40)
    choose(app.control.output_combo, None)  # the system default again: its own delay comes back
    qtbot.waitUntil(lambda: core.delay_output == "default")
    assert s.spin.value() == 150 and core.audio_delay_ms == 150.0
    s.reset_button.click()
    assert s.spin.value() == 0 and core.audio_delay_ms == 0.0 and RoomSettings().get("outputs", "default") == {}
    assert RoomSettings().get("outputs", "HDMI 1") == {"audio_delay_ms": -40.0}


def test_the_section_is_locked_during_a_set(app, qtbot):  # noqa: F811
    s = section(app)
    core = app.session.core
    qtbot.waitUntil(lambda: core.delay_output == "default")
    app.session.start()
    qtbot.waitUntil(lambda: core.status.state != IDLE)
    assert not s.spin.isEnabled() and not s.calibrate_button.isEnabled()
    assert "between sets" in s.output_label.text()


def _paint(app, t: float) -> np.ndarray:  # noqa: F811
    """The client display's frame seen at monotonic time ``t``, painted by its own paint function."""
    img = QImage(480, 270, QImage.Format_RGB32)
    p = QPainter(img)
    app.display.core.paint(p, QRectF(0, 0, img.width(), img.height()), t)
    p.end()
    a = np.frombuffer(img.constBits(), dtype=np.uint8).reshape(img.height(), img.width(), 4)
    return a[..., :3].astype(float)


def test_calibrate_starts_and_stops_the_program_and_the_flash_is_seen(app, qtbot):  # noqa: F811
    s = section(app)
    core = app.session.core
    qtbot.waitUntil(lambda: core.delay_output == "default")
    s.calibrate_button.click()
    assert core.calibrating and s.calibrate_button.isChecked() and s.hint.text() == CALIBRATE_HINT
    qtbot.waitUntil(lambda: core.engine.calibration is not None)
    cal = core.engine.calibration
    first = cal.start + avdelay.LEAD_IN_S * 48_000  # the first event (left), from the program's timing
    qtbot.waitUntil(lambda: core.engine.next_frame > first + 48_000 and core.anchor_map.locked, timeout=5000)
    t_event = core.anchor_map.time_at(first)  # the moment the display shows that stimulus frame
    at, before = _paint(app, t_event), _paint(app, t_event - 0.12)  # before: outside the 150 ms swell
    left = slice(0, at.shape[1] // 2)
    assert at[:, left].max() > before[:, left].max() + 5  # the target at the left is brighter at the event
    assert at[:, at.shape[1] // 2:].max() == before[:, at.shape[1] // 2:].max()  # nothing on the right
    s.calibrate_button.click()
    assert not core.calibrating and s.calibrate_button.text() == "Calibrate"
    qtbot.waitUntil(lambda: core.engine.calibration.end is not None)


def test_calibrating_refused_without_a_sound_card(bls_app, qtbot):
    s = section(bls_app)
    assert bls_app.session.core.delay_output is None
    assert not s.spin.isEnabled() and not s.calibrate_button.isEnabled()
    assert "no sound card" in s.output_label.text()
