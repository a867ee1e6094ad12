"""The remote client through ``bls relay`` in a real browser, with the relay nodes holding the room
killed mid-set: headless Chromium opens the relay's link (behind a balancer in front of two nodes
sharing Redis), allows sound and follows a set; a third node comes up and the two others are killed
(SIGKILL) while the set runs. Both sides reconnect through the third node; the page never stops
playing (it runs on the snapshots it has, on its own audio clock), is greeted again and follows the
rest of the set. Every frame it drew, before, during and after, is where the engine put the target.

Figures (printed with -s): frames drawn, the position agreement, the time the page was away."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")
sync_api = pytest.importorskip("playwright.sync_api")

from bls.session import SessionCore, SessionRecord  # noqa: E402
from bls.session.clocks import ClockManager  # noqa: E402

from ._relay import KEY, Balancer, RedisServer, RelayNode  # noqa: E402
from .test_remote_follow import ARGS, CHROMIUM, HALF_WIDTH_PX, Recorded, _short  # noqa: E402

pytestmark = pytest.mark.e2e


def test_the_page_follows_a_set_while_the_relay_nodes_holding_it_are_killed(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        redis = RedisServer(tmp_path)
    except FileNotFoundError:
        pytest.skip("no redis-server (apt-get install redis-server; .ci/run installs it)")
    nodes = [RelayNode(redis.url), RelayNode(redis.url)]
    lb = Balancer([n.port for n in nodes])
    settings = _short("standard").with_("motion", set_passes=20)  # 10 s at 1 cycle/s
    core = SessionCore(settings, lambda engine, _want: ClockManager(engine, False, None), SessionRecord())
    rec = Recorded(core.engine)
    try:
        url = core.invite(relay=lb.base, key=KEY)
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
                page.wait_for_function("() => window.blsTest.state().setState === 'running'", timeout=10_000)
                page.evaluate("window.blsTest.clearFrames()")
                page.wait_for_function("() => window.blsTest.frames().length > 60", timeout=10_000)
                greeted = page.evaluate("window.blsTest.state().welcomes")
                third = RelayNode(redis.url)
                nodes.append(third)
                lb.ports.append(third.port)
                for n in nodes[:2]:
                    n.kill()
                lost = time.monotonic()
                page.wait_for_function("() => window.blsTest.state().conn !== 'open'", timeout=10_000)
                page.wait_for_function(f"() => window.blsTest.state().welcomes > {greeted}", timeout=20_000)
                away = time.monotonic() - lost
                deadline = time.monotonic() + 60
                while not core.record.sets and time.monotonic() < deadline:
                    core.poll()
                    page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
                assert core.record.sets, "the set did not end"
                page.wait_for_function("() => window.blsTest.state().setState === 'idle'", timeout=10_000)
                frames = page.evaluate("window.blsTest.frames()")
                state = page.evaluate("window.blsTest.state()")
            finally:
                browser.close()
        drawn = [(f, x) for f, x in frames if x is not None]
        assert len(drawn) > 300, "the page drew too few frames of the set"
        worst = max(abs(x - rec.x_at(f)) * HALF_WIDTH_PX for f, x in drawn)
        steps = [b[0] - a[0] for a, b in zip(frames, frames[1:])]
        print(f"\nthrough the relay, nodes killed mid-set: {len(drawn)} frames drawn, position vs engine "
              f"max {worst:.2e} px; the page was away {away:.2f} s; dropped {state['dropped']}")
        assert worst <= 0.5
        assert all(s >= 0 for s in steps)  # never back in time
        assert not errors, errors
        assert state["invalid"] == 0 and not state["ended"]
        assert core.record.sets[0]["stop_reason"] == "complete"
    finally:
        core.quit()
        lb.stop()
        for n in nodes:
            n.stop()
        redis.stop()
