"""The remote client's page in Firefox (Debian's firefox-esr, headless, driven over WebDriver BiDi):
the model's own unit tests pass there, and the page follows a standard and a gentle set, every frame
it draws where the engine put the target. Skips without Firefox (``.ci/run`` installs it).

Without sound: headless Firefox on this machine never starts an AudioContext (``resume()`` stays
pending after a real click, with its default, JACK or null backends alike), so the page draws on its
clock before the tap (the therapist's frame at the last message, run on by the page's clock, a lead
behind); the sound path is verified in Chromium only."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("aiohttp")

from bls.remote.wire import wire_caps  # noqa: E402
from bls.session import SessionCore, SessionRecord  # noqa: E402
from bls.session.clocks import ClockManager  # noqa: E402

from . import _remote_sessions as R  # noqa: E402
from . import test_remote_model as RM  # noqa: E402
from ._firefox import Firefox, firefox  # noqa: E402
from .test_remote_model import server  # noqa: E402, F401 - the model's folder on a local HTTP server
from .test_remote_follow import HALF_WIDTH_PX, Recorded, _short  # noqa: E402

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if firefox() is None:
        pytest.skip("no Firefox (apt-get install firefox-esr; .ci/run installs it)")
    ff = Firefox(tmp_path_factory.mktemp("firefox") / "profile")
    yield ff
    ff.close()


@pytest.mark.parametrize("preset", ["standard", "gentle"])
def test_firefox_draws_each_frame_where_the_engine_puts_it(browser, preset):
    core = SessionCore(_short(preset), lambda engine, _want: ClockManager(engine, False, None), SessionRecord())
    rec = Recorded(core.engine)
    try:
        url = core.invite()
        browser.goto(url)
        browser.wait_for("() => window.blsTest && window.blsTest.state().welcome", 20)
        core.start()
        browser.wait_for("() => window.blsTest.state().setState === 'running'", 10, core.poll)
        browser.evaluate("() => window.blsTest.clearFrames()")
        deadline = time.monotonic() + 60
        while not core.record.sets and time.monotonic() < deadline:
            core.poll()
            browser.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
        assert core.record.sets, "the set did not end"
        browser.wait_for("() => window.blsTest.state().setState === 'idle'", 10, core.poll)
        frames = browser.evaluate("() => window.blsTest.frames()")
        state = browser.evaluate("() => window.blsTest.state()")
        core.poll()
        remote = dict(core.remote)
    finally:
        core.quit()
    drawn = [(f, x) for f, x in frames if x is not None]
    assert len(drawn) > 100, "the page drew too few frames of the set"
    worst = max(abs(x - rec.x_at(f)) * HALF_WIDTH_PX for f, x in drawn)
    print(f"\nFirefox, {preset}: {len(drawn)} frames drawn, position vs engine max {worst:.2e} px; "
          f"RTT {remote.get('rtt_ms')} ms; dropped {state['dropped']}")
    assert worst <= 0.5
    assert all(b[0] >= a[0] for a, b in zip(frames, frames[1:]))  # never back in time
    assert state["invalid"] == 0 and state["model"] and remote["connected"]


@pytest.fixture
def model(browser, server):
    """Firefox on a blank page of the model's own folder, the model and its tests imported."""
    browser.goto(server + "/")
    browser.evaluate("""async () => { window.M = await import('/model.js'); window.T = await import('/model.test.js');
                                      return true; }""")
    return browser


def test_the_model_unit_tests_pass_in_firefox(model):
    """model.test.js, the JavaScript model's own tests, run in Firefox as in Chromium."""
    results = model.evaluate("(caps) => T.run(caps)", wire_caps())
    failed = [r for r in results if not r["ok"]]
    assert len(results) >= 20
    assert not failed, failed


@pytest.mark.parametrize("name", R.SESSIONS)
def test_firefox_computes_the_engine_position_and_sound(model, name):
    """Each scripted engine session's snapshots, evaluated by Firefox's JavaScript: the position and the
    tone's samples (``renderInto``, the worklet's code) as the engine's, within the same bounds as in
    Chromium (0.5 px; float32 rounding of the pan law)."""
    run = RM.session(name)
    refused = model.evaluate(RM.LOAD.replace("([caps, items]) =>", "(caps, items) =>"), wire_caps(), run.wire)
    assert refused == []
    total = len(run.audio)
    frames = np.concatenate([np.arange(0, total, 97, dtype=np.float64), [s.start for s in run.snaps]])
    got = np.array(model.evaluate("(fs) => fs.map((f) => { const s = st.sampleAt(f); return [s.x, s.y]; })",
                                  frames.tolist()))
    err_px = float(np.max(np.abs(got - R.position_table(run, frames)))) * RM.SCREEN_PX / 2.0
    left, right = (RM._f32(b) for b in model.evaluate(RM.RENDER.replace("([frame0, n, block]) =>",
                                                                        "(frame0, n, block) =>"), 0, total, 128))
    diff = float(np.max(np.abs(np.stack([left, right], axis=1) - run.audio)))
    print(f"\nFirefox {name}: position max error {err_px:.3g} px, audio max difference {diff:.3g}")
    assert np.max(np.abs(run.audio)) > 0.005
    assert err_px <= RM.PX_TOL and diff <= RM.AUDIO_TOL
