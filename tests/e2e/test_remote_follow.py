"""The remote client end to end: a session on the system clock (real time, as the app runs without a
sound card) invites; headless Chromium opens the link, taps "Allow sound" and follows a standard and a
gentle set. What the page drew (its test hook: the stimulus frame and x of every animation frame) is
compared with the Python engine's own position at that frame: the browser plays the set itself, from
the snapshots, on its own audio clock.

Figures (printed with -s): the position agreement in px of a 1920 px screen, the round-trip time, the
page's frame pacing and its own A/V offset (the picture's line against what its tone renders)."""

from __future__ import annotations

import bisect
import statistics
import time
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")
sync_api = pytest.importorskip("playwright.sync_api")

from bls.core.preset import Motion, Timing, builtin_presets  # noqa: E402
from bls.session import SessionCore, SessionRecord  # noqa: E402
from bls.session.clocks import ClockManager  # noqa: E402

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"
HALF_WIDTH_PX = 960  # x is -1..1 across a 1920 px screen: 1.0 of x is 960 px
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]


def _short(preset):
    """The built-in preset, with a short set (the test waits for it in real time)."""
    p = builtin_presets()[preset]
    return p.with_("motion", set_mode="passes", set_passes=6).with_("timing", fade_in_s=0.5, fade_out_s=0.5,
                                                                  rest_s=0.0)


class Recorded:
    """Every snapshot the engine publishes, kept (the engine keeps only the last two seconds)."""

    def __init__(self, engine):
        self.snaps = []
        push = engine._push

        def keep(snap):
            self.snaps.append(snap)
            push(snap)
        engine._push = keep

    def x_at(self, frame: float) -> float:
        starts = [s.start for s in self.snaps]
        i = bisect.bisect_right(starts, frame) - 1
        x, _y, _s = self.snaps[i].position(frame)
        return float(x)


@pytest.mark.parametrize("preset", ["standard", "gentle"])
def test_the_browser_draws_each_frame_where_the_engine_puts_it(preset, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    settings = _short(preset)
    core = SessionCore(settings, lambda engine, _want: ClockManager(engine, False, None), SessionRecord())
    rec = Recorded(core.engine)
    try:
        url = core.invite()
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                errors = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(url)
                page.wait_for_function("() => window.blsTest && window.blsTest.state().welcome", timeout=10_000)
                page.click("#sound")
                page.wait_for_function("() => window.blsTest.state().sound", timeout=10_000)
                core.start()
                page.wait_for_function("() => window.blsTest.state().clock", timeout=10_000)
                page.evaluate("window.blsTest.clearFrames()")
                # the set runs on the therapist's clock; the page follows it a lead behind
                deadline = time.monotonic() + 60
                while not core.record.sets and time.monotonic() < deadline:
                    core.poll()
                    page.wait_for_function("() => window.blsTest.frames().length > 0", timeout=5_000)
                    page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
                assert core.record.sets, "the set did not end"
                page.wait_for_function("() => window.blsTest.state().setState === 'idle'", timeout=10_000)
                frames = page.evaluate("window.blsTest.frames()")
                state = page.evaluate("window.blsTest.state()")
                core.poll()
                remote = dict(core.remote)
            finally:
                browser.close()
        drawn = [(f, x) for f, x in frames if x is not None]
        assert len(drawn) > 100, "the page drew too few frames of the set"
        errs_px = [abs(x - rec.x_at(f)) * HALF_WIDTH_PX for f, x in drawn]
        worst = max(errs_px)
        steps = [b[0] - a[0] for a, b in zip(frames, frames[1:])]
        print(f"\n{preset}: {len(drawn)} frames drawn, position vs engine max {worst:.2e} px; "
              f"RTT {remote.get('rtt_ms')} ms; dropped {state['dropped']}; page A/V offset {state['avOffsetMs']} ms; "
              f"stimulus frames per drawn frame median {statistics.median(steps):.1f}")
        assert worst <= 0.5
        assert all(s >= 0 for s in steps)  # never back in time
        assert not errors, errors
        assert state["invalid"] == 0  # nothing refused: the set was within every cap
    finally:
        core.quit()


def test_the_page_takes_a_new_lead_only_between_sets(tmp_path):
    """On loopback the round trips are a few ms: after five pings (a second apart) the therapist's side
    proposes the shortest lead (150 ms instead of the first 250 ms). A set started at once is still
    running then: the page keeps the lead it plays with until the set is over, then takes the new one
    (its one jump, while nothing plays), and the next set plays 150 ms behind the therapist. Every frame
    of both sets is where the engine put the target."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    settings = _short("standard").with_("motion", set_passes=16)  # 8 s: longer than five pings
    core = SessionCore(settings, lambda engine, _want: ClockManager(engine, False, None), SessionRecord())
    rec = Recorded(core.engine)
    try:
        url = core.invite()
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                page.goto(url)
                page.wait_for_function("() => window.blsTest && window.blsTest.state().welcome", timeout=10_000)
                page.click("#sound")
                page.wait_for_function("() => window.blsTest.state().sound", timeout=10_000)
                core.start()
                page.wait_for_function("() => window.blsTest.state().setState === 'running'", timeout=10_000)
                page.evaluate("window.blsTest.clearFrames()")
                # the new lead arrives during the set and waits
                page.wait_for_function("() => window.blsTest.state().pendingLead !== null", timeout=20_000)
                during = page.evaluate("window.blsTest.state()")
                assert during["setState"] in ("running", "stopping") and during["leadMs"] == 250
                assert during["pendingLead"] == 150 and during["leads"] == 0
                deadline = time.monotonic() + 60
                while not core.record.sets and time.monotonic() < deadline:
                    core.poll()
                    page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
                page.wait_for_function("() => window.blsTest.state().leads === 1", timeout=10_000)
                after = page.evaluate("window.blsTest.state()")
                assert after["leadMs"] == 150 and after["pendingLead"] is None and after["setState"] == "idle"
                core.start()  # the second set, with the new lead
                while len(core.record.sets) < 2 and time.monotonic() < deadline + 30:
                    core.poll()
                    page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
                lag = page.evaluate("window.blsTest.state().lagErrorMs")
                frames = page.evaluate("window.blsTest.frames()")
            finally:
                browser.close()
        assert len(core.record.sets) == 2
        drawn = [(f, x) for f, x in frames if x is not None]
        assert len(drawn) > 300
        assert max(abs(x - rec.x_at(f)) * HALF_WIDTH_PX for f, x in drawn) <= 0.5
        assert abs(lag) < 20.0  # the clock holds the new lead (its error, ms)
        assert all(b[0] >= a[0] for a, b in zip(frames, frames[1:]))  # never back in time, even at the jump
    finally:
        core.quit()


def test_a_phone_in_landscape_sees_every_control_taps_for_sound_and_follows_the_set():
    """Chromium emulating a phone (touch, 3× pixels): in portrait the page asks to turn it sideways; in
    landscape (844×390 CSS px) every control is on screen without overlapping, one tap allows sound,
    and the set's frames are where the engine put the target."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    core = SessionCore(_short("standard"), lambda engine, _want: ClockManager(engine, False, None), SessionRecord())
    rec = Recorded(core.engine)
    try:
        url = core.invite()
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            try:
                phone = dict(is_mobile=True, has_touch=True, device_scale_factor=3)
                portrait = browser.new_context(viewport={"width": 390, "height": 844}, **phone).new_page()
                portrait.goto(url)
                hint = portrait.evaluate("() => getComputedStyle(document.querySelector('#detail'), '::after').content")
                assert "landscape" in hint
                portrait.close()  # one device at a time
                page = browser.new_context(viewport={"width": 844, "height": 390}, **phone).new_page()
                page.goto(url)
                page.wait_for_function("() => window.blsTest && window.blsTest.state().welcome", timeout=20_000)
                boxes = {sel: page.locator(sel).bounding_box() for sel in ("#message", "#sound", "#fullscreen", "#check")}
                for sel, b in boxes.items():
                    assert b is not None and b["x"] >= 0 and b["y"] >= 0, (sel, b)
                    assert b["x"] + b["width"] <= 844 and b["y"] + b["height"] <= 390, (sel, b)
                assert boxes["#message"]["y"] + boxes["#message"]["height"] <= boxes["#sound"]["y"]
                page.tap("#sound")
                page.wait_for_function("() => window.blsTest.state().sound", timeout=10_000)
                core.start()
                page.wait_for_function("() => window.blsTest.state().setState === 'running'", timeout=10_000)
                page.evaluate("window.blsTest.clearFrames()")
                # during the set only the target shows: the controls fade out and take no taps
                page.wait_for_function("() => document.body.classList.contains('inset')", timeout=5_000)
                assert page.evaluate("() => getComputedStyle(document.querySelector('#panel')).pointerEvents") == "none"
                deadline = time.monotonic() + 60
                while not core.record.sets and time.monotonic() < deadline:
                    core.poll()
                    page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
                frames = page.evaluate("window.blsTest.frames()")
            finally:
                browser.close()
        drawn = [(f, x) for f, x in frames if x is not None]
        assert len(drawn) > 100
        assert max(abs(x - rec.x_at(f)) * HALF_WIDTH_PX for f, x in drawn) <= 0.5
    finally:
        core.quit()
