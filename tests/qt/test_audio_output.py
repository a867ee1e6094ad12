"""Choosing the audio output in the control window: the list, the switch between sets, the retry, and
the choice remembered for the next launch. The sound card is faked: these tests check which output the
session asks for and when, not PortAudio (tests/e2e/test_audio_tap.py plays through a real stream)."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from bls.audio.output import AudioStatus, MonotonicClock
from bls.core.engine import IDLE, RUNNING

from .conftest import wait_ms

OUTPUTS = ["Headphones (USB)", "HDMI 1"]


class FakeCard(MonotonicClock):
    """Runs on the system clock but says it is a sound card, as a device clock would: opened, it plays
    silence until the session gives it the engine."""

    is_device = True
    name = device_name = None

    def _run(self):
        while not self._stop.is_set() and self.engine.owner is not self.token:
            self.last_block_at = time.monotonic()
            self._stop.wait(0.005)
        self._origin_frame, self._origin_time = self.engine.next_frame, time.monotonic()
        super()._run()


@pytest.fixture
def opened(monkeypatch):
    """Every clock the session opens, as (tone wanted, output asked for)."""
    calls: list[tuple[bool, str | None]] = []

    def fake_open_clock(engine, want_audio, device=None, refresh=False):  # at start-up
        calls.append((want_audio, device))
        if not want_audio:
            clock = MonotonicClock(engine)
            engine.owner = clock.token
            clock.start()
            return clock, AudioStatus(False, "Audio off")
        clock = FakeCard(engine)
        engine.owner = clock.token
        clock.start()
        return clock, AudioStatus(True, f"Audio: {device or 'default'}", device=device or "default")

    def fake_open_device(engine, device=None, rescan=False):  # between sets, on the PortAudio worker
        calls.append((True, device))
        clock = FakeCard(engine)
        clock.name = f"{device or 'default'}"
        clock.start()
        return clock

    monkeypatch.setattr("bls.session.clocks.open_clock", fake_open_clock)
    monkeypatch.setattr("bls.session.clocks.open_device", fake_open_device)
    monkeypatch.setattr("bls.audio.output.list_outputs_in_child", lambda timeout_s=5.0: list(OUTPUTS))
    return calls


def make_app(qapp, **kwargs):
    from bls.app import BlsApp

    return BlsApp(qapp, preset="standard", client_screen="CLIENT", **kwargs)


@pytest.fixture
def app(qapp, opened, monkeypatch):
    monkeypatch.delenv("BLS_AUDIO_DEVICE")
    a = make_app(qapp)
    yield a
    a.shutdown()
    a.control.deleteLater()
    a.display.deleteLater()
    qapp.processEvents()


def items(combo) -> list[tuple[str, str | None]]:
    return [(combo.itemText(i), combo.itemData(i)) for i in range(combo.count())]


def choose(combo, name: str | None) -> None:
    i = combo.findData(name)
    assert i >= 0, items(combo)
    combo.setCurrentIndex(i)
    combo.activated.emit(i)


def test_the_list_offers_the_default_and_each_output_and_is_read_again_when_opened(app, qtbot):
    combo = app.control.output_combo
    qtbot.waitUntil(lambda: combo.count() == 3, timeout=3000)  # listed by a child process, not this thread
    assert items(combo) == [("System default output", None), ("Headphones (USB)", "Headphones (USB)"),
                            ("HDMI 1", "HDMI 1")]
    assert combo.currentData() is None
    combo.list_outputs = lambda: ["HDMI 1", "Bluetooth headset"]  # plugged in while the app ran
    combo.showPopup()
    combo.hidePopup()
    assert [d for _, d in items(combo)] == [None, "HDMI 1", "Bluetooth headset"]


def test_an_output_that_is_not_connected_is_shown_as_such(qapp, opened):
    a = make_app(qapp, audio_device="Studio monitors")
    try:
        combo = a.control.output_combo
        assert combo.currentText() == "Studio monitors  (not connected)"
        assert combo.currentData() == "Studio monitors"
    finally:
        a.shutdown()


def test_choosing_an_output_when_idle_opens_it_at_once_and_choosing_it_again_retries(app, opened, qtbot):
    c, s = app.control, app.session
    assert opened == [(True, None)]  # the preset's tone is on: the default output
    choose(c.output_combo, "Headphones (USB)")
    assert s.audio_status.pending  # opened on the PortAudio worker: this thread goes on
    qtbot.waitUntil(lambda: s.clock.is_device, timeout=2000)
    assert opened[-1] == (True, "Headphones (USB)")
    assert s.audio_status.summary == "Audio: Headphones (USB)"
    assert c.audio_label.text().endswith("Audio: Headphones (USB)")
    choose(c.output_combo, "Headphones (USB)")  # the same again: headphones plugged back in
    qtbot.waitUntil(lambda: len(opened) == 3 and s.clock.is_device, timeout=2000)
    assert opened[-2:] == [(True, "Headphones (USB)")] * 2


def test_during_a_set_the_new_output_waits_for_the_set_to_end(app, opened, qtbot):
    c, s = app.control, app.session
    c.start_button.click()
    qtbot.waitUntil(lambda: s.status.state == RUNNING, timeout=2000)
    before = len(opened)
    choose(c.output_combo, "HDMI 1")
    assert len(opened) == before  # never mid-set: the clock that drives the set stays
    assert "when this set ends" in c.statusBar().currentMessage()
    QTest.keyClick(c, Qt.Key_Escape)
    qtbot.waitUntil(lambda: s.status.state == IDLE, timeout=4000)
    qtbot.waitUntil(lambda: len(opened) > before and s.clock.is_device, timeout=2000)
    assert opened[-1] == (True, "HDMI 1") and s.audio_status.device == "HDMI 1"


def test_with_the_tone_off_the_choice_waits_for_the_tone(app, opened, qtbot):
    c, s = app.control, app.session
    c.audio_check.setChecked(False)
    assert not s.clock.is_device and s.audio_status.summary == "Audio off"
    n = len(opened)
    choose(c.output_combo, "HDMI 1")
    assert len(opened) == n  # nothing plays: nothing to open
    c.audio_check.setChecked(True)
    qtbot.waitUntil(lambda: s.clock.is_device, timeout=2000)
    assert opened[-1] == (True, "HDMI 1")


def test_the_output_is_remembered_for_the_next_launch(app, opened, qapp):
    choose(app.control.output_combo, "HDMI 1")
    again = make_app(qapp)
    try:
        assert opened[-1] == (True, "HDMI 1")
        assert again.control.output_combo.currentData() == "HDMI 1"
        choose(again.control.output_combo, None)  # back to the default: remembered as such
    finally:
        again.shutdown()
    third = make_app(qapp)
    try:
        assert opened[-1] == (True, None) and third.control.output_combo.currentData() is None
    finally:
        third.shutdown()


def test_an_output_that_dies_mid_set_hands_over_to_the_system_clock_and_is_retried_after(app, opened, qtbot):
    c, s = app.control, app.session
    choose(c.output_combo, "Headphones (USB)")
    qtbot.waitUntil(lambda: s.clock.is_device, timeout=2000)
    c.start_button.click()
    qtbot.waitUntil(lambda: s.status.state == RUNNING, timeout=2000)
    card = s.clock
    n = len(opened)
    card.stop()  # unplugged: no more callbacks, the engine no longer advances on this clock
    qtbot.waitUntil(lambda: s.clock is not card, timeout=3000)
    assert not s.clock.is_device and s.status.state == RUNNING  # the set runs on, on the system clock
    assert s.audio_status.summary == "No sound: the audio output stopped"
    assert c.audio_label.text().endswith("No sound: the audio output stopped")
    frame = s.engine.next_frame
    qtbot.waitUntil(lambda: s.engine.next_frame > frame + 4800, timeout=2000)  # time moves again
    QTest.keyClick(c, Qt.Key_Escape)
    qtbot.waitUntil(lambda: s.status.state == IDLE, timeout=4000)  # and the set can be stopped
    assert s.records[-1]["stop_reason"] == "stopped"
    qtbot.waitUntil(lambda: len(opened) > n and s.clock.is_device, timeout=2000)  # tried again between sets
    assert opened[-1] == (True, "Headphones (USB)")


class SilentCard(MonotonicClock):
    """Opens fine and never renders a block: a stalled driver."""

    is_device = True
    name = device_name = None

    def start(self):
        self.last_block_at = time.monotonic()


def test_an_output_that_stalls_while_idle_is_not_reopened_in_a_loop(app, opened, monkeypatch, qtbot):
    c, s = app.control, app.session

    def silent_open(engine, device=None, rescan=False):
        opened.append((True, device))
        clock = SilentCard(engine)
        clock.name = device
        clock.start()
        return clock

    monkeypatch.setattr("bls.session.clocks.open_device", silent_open)
    choose(c.output_combo, "HDMI 1")
    qtbot.waitUntil(lambda: s.audio_status.summary == "No sound: the audio output stopped", timeout=3000)
    n = len(opened)
    wait_ms(1500)  # three stall periods: no retry while idle, no flicker
    assert len(opened) == n and s.audio_status.summary == "No sound: the audio output stopped"
    choose(c.output_combo, "HDMI 1")  # the therapist's own retry still works
    qtbot.waitUntil(lambda: len(opened) == n + 1, timeout=2000)
