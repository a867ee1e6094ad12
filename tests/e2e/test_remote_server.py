"""The embedded server for the remote client, on loopback, with a real SessionCore on the script's
manual clock: an aiohttp client (and one headless Chromium) connects with the link's token.

No sleeps: every wait is for a condition, with a bound."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlsplit

import pytest

aiohttp = pytest.importorskip("aiohttp")

from bls.core.engine import SAMPLE_RATE  # noqa: E402
from bls.core.preset import builtin_presets  # noqa: E402
from bls.remote import protocol as P  # noqa: E402
from bls.remote import bridge as B  # noqa: E402
from bls.remote import pages  # noqa: E402
from bls.remote import server as S  # noqa: E402
from bls.session import SessionCore, SessionRecord  # noqa: E402
from bls.session.script import ScriptClock  # noqa: E402

pytestmark = pytest.mark.e2e
WAIT = 5.0


class Session:
    def __init__(self, preset="standard"):
        holder = {}

        def clocks(engine, _want):
            holder["c"] = ScriptClock(engine)
            return holder["c"]
        self.core = SessionCore(builtin_presets()[preset], clocks, SessionRecord())
        self.clock = holder["c"]
        self.changes = []
        self.core.remote_changed.connect(self.changes.append)
        self.url = self.core.invite()
        parts = urlsplit(self.url)
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.token = parts.path.rsplit("/", 1)[1]

    def ws_url(self, token=None):
        return f"{self.base.replace('http', 'ws', 1)}/ws/{token or self.token}"

    def advance(self, seconds: float) -> None:
        self.clock.advance_to(self.core.engine.next_frame + int(seconds * SAMPLE_RATE), self.core)

    def kinds(self):
        return [e["kind"] for e in self.core.record.events]


@pytest.fixture
def session():
    s = Session()
    yield s
    t0 = time.monotonic()
    s.core.quit()
    assert time.monotonic() - t0 < S.STOP_TIMEOUT_S + 1.0
    assert s.core._remote is None


async def recv(ws, timeout=WAIT) -> dict:
    m = await ws.receive(timeout=timeout)
    assert m.type == aiohttp.WSMsgType.TEXT, (m.type, m.data, m.extra)
    msg, problems = P.decode(m.data, "server")
    assert not problems, problems
    return msg


async def recv_until(ws, pred, timeout=WAIT) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "timed out waiting for a message"
        msg = await recv(ws, left)
        if pred(msg):
            return msg


async def until_closed(ws, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "the server did not close the connection in time"
        m = await ws.receive(timeout=left)
        if m.type == aiohttp.WSMsgType.CLOSE:
            # the code the server's close frame carries (what a browser's onclose reports), even when
            # aiohttp's client could not answer it (it answered at once, before this receive)
            return m.data, m.extra
        if m.type in (aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
            return ws.close_code, m.extra


def wait_for(cond, timeout=WAIT, poll=None):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        if poll:
            poll()
        time.sleep(0.005)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


# ------------------------------------------------------------------ the set reaches the client


def test_the_client_gets_welcome_then_the_snapshots_as_the_set_runs(session):
    assert len(session.token) >= 32  # 24 random bytes, url-safe: 192 bits

    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(session.ws_url()) as ws:
                w = await recv(ws)
                assert w["type"] == "welcome" and w["state"]["set_state"] == "idle"
                assert w["caps"] == __import__("bls.remote.wire", fromlist=["x"]).wire_caps()
                assert w["lead_ms"] > 0 and w["sample_rate"] == SAMPLE_RATE
                first = await recv_until(ws, lambda m: m["type"] == "snapshots")
                assert [i["start"] for i in first["items"]] == [s.start for s in session.core.engine.history]
                session.core.start()
                session.advance(0.5)
                m = await recv_until(ws, lambda m: m["type"] == "snapshots"
                                     and any(i["state"] == "running" for i in m["items"]))
                assert 0 < m["now_frame"] <= session.core.engine.next_frame == int(0.5 * SAMPLE_RATE)
                await ws.send_str(P.encode(P.hello(1920, 1080, 2.0, "running"), "client"))
                await ws.send_str(P.encode(P.status(True, 8.5, 2, 24000.0), "client"))
                ping = await recv_until(ws, lambda m: m["type"] == "ping", timeout=B.PING_S + WAIT)
                await ws.send_str(P.encode(P.pong(ping["id"], ping["sent_ms"]), "client"))
                await asyncio.to_thread(wait_for, lambda: any(c.get("rtt_ms") is not None for c in session.changes),
                                        WAIT, session.core.poll)
                return session.core.remote
    r = run(go())
    assert r["connected"] and r["sound"] is True and r["screen"] == (1920, 1080, 2.0)
    assert r["av_offset_ms"] == 8.5 and r["dropped_frames"] == 2 and 0 <= r["rtt_ms"] < 1000
    wait_for(lambda: "remote_left" in session.kinds(), poll=session.core.poll)
    kinds = session.kinds()
    assert kinds.count("remote_invited") == 1 and kinds.index("remote_connected") < kinds.index("remote_left")
    assert session.changes and session.changes[-1]["connected"] is False
    assert any(c.get("rtt_ms") is not None for c in session.changes)


# ------------------------------------------------------------------ tokens


def test_a_wrong_token_is_a_404_for_the_page_and_the_socket(session):
    async def go():
        async with aiohttp.ClientSession() as http:
            for token in ("nope", session.token[:-1] + ("A" if session.token[-1] != "A" else "B")):
                async with http.get(f"{session.base}/r/{token}") as r:
                    assert r.status == 404 and "not valid or has expired" in await r.text()
                with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                    await http.ws_connect(session.ws_url(token))
                assert e.value.status == 404
            async with http.get(session.url) as r:
                assert r.status == 200
            # another site's page cannot use the link from the client's browser
            with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                await http.ws_connect(session.ws_url(), headers={"Origin": "http://evil.example"})
            assert e.value.status == 403
            async with http.ws_connect(session.ws_url(), headers={"Origin": session.base}) as ws:
                assert (await recv(ws))["type"] == "welcome"
    run(go())


def test_an_expired_token_is_refused_and_a_new_invitation_has_a_new_one(session):
    old_url, old_token = session.url, session.token
    session.core.uninvite()
    assert "remote_uninvited" in session.kinds()
    new_url = session.core.invite()
    assert new_url != old_url
    base = new_url.rsplit("/r/", 1)[0]

    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/r/{old_token}") as r:
                assert r.status == 404
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await http.ws_connect(f"{base.replace('http', 'ws', 1)}/ws/{old_token}")
    run(go())


def test_a_second_client_is_refused_while_one_is_connected_and_admitted_after(session):
    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(session.ws_url()) as first:
                await recv(first)
                async with http.ws_connect(session.ws_url()) as second:
                    code, reason = await until_closed(second)
                    assert code == S.CLOSE_BUSY and "another client" in reason
                await first.send_str(P.encode(P.status(False, None, 0, None), "client"))
                assert not first.closed
            # the first left: the same link admits a client again (a rejoin)
            async with http.ws_connect(session.ws_url()) as third:
                assert (await recv(third))["type"] == "welcome"
    run(go())
    assert S.RemoteServer is not None and session.core._remote.stats["refused"] == 1


# ------------------------------------------------------------------ bad input


def test_malformed_messages_get_their_problems_then_the_connection_is_cut(session):
    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(session.ws_url()) as ws:
                await ws.send_str('{"v":1,"type":"status","sound":"loud"}')
                err = await recv_until(ws, lambda m: m["type"] == "error")
                assert any("status.sound" in p for p in err["problems"])
                assert any("dropped_frames is missing" in p for p in err["problems"])
                t0 = time.monotonic()
                for _ in range(S.MAX_BAD_MSGS + 1):
                    await ws.send_str("{not json")
                code, reason = await until_closed(ws)
                assert code == S.CLOSE_BAD and "malformed" in reason and time.monotonic() - t0 < 2.0
    run(go())
    assert session.core._remote.stats["bad"] == S.MAX_BAD_MSGS + 1  # the first, then ten more and the one too many


def test_an_oversized_message_closes_the_connection(session):
    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(session.ws_url()) as ws:
                await recv(ws)
                await ws.send_str(json.dumps({"v": 1, "type": "status", "pad": "x" * P.MAX_BYTES}))
                code, _ = await until_closed(ws)
                assert code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    run(go())


def test_a_flood_is_cut_off_and_the_link_still_works_after(session):
    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(session.ws_url()) as ws:
                await recv(ws)
                t0 = time.monotonic()
                status = P.encode(P.status(True, 1.0, 0, 1.0), "client")
                for _ in range(S.MAX_MSGS_PER_S * 5):
                    if ws.closed:
                        break
                    await ws.send_str(status)
                code, reason = await until_closed(ws)
                assert code == S.CLOSE_FLOOD and "too many messages" in reason and time.monotonic() - t0 < 2.0
            async with http.ws_connect(session.ws_url()) as again:
                assert (await recv(again))["type"] == "welcome"
    run(go())
    assert session.core._remote.stats["flood"] == 1


# ------------------------------------------------------------------ the session ends, the client drops


def test_the_therapist_quitting_sends_bye_and_the_link_expires(session):
    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(session.ws_url()) as ws:
                await recv(ws)
                session.core.start()
                session.advance(1.0)
                t0 = time.monotonic()
                quitting = asyncio.ensure_future(asyncio.to_thread(session.core.quit))
                bye = await recv_until(ws, lambda m: m["type"] == "bye")
                assert "ended" in bye["reason"]
                code, _ = await until_closed(ws)
                assert code == S.CLOSE_ENDED
                await quitting
                assert time.monotonic() - t0 < S.STOP_TIMEOUT_S + 0.5
            with pytest.raises(aiohttp.ClientConnectionError):
                await http.get(session.url)  # the server is gone
    run(go())
    assert "remote_left" in session.kinds() and session.core.remote["invited"] is False


def test_a_client_that_drops_mid_set_resumes_at_the_current_snapshots(session):
    engine = session.core.engine

    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(session.ws_url()) as ws:
                await recv(ws)
                session.core.start()
                session.advance(1.0)
                await recv_until(ws, lambda m: m["type"] == "snapshots"
                                 and any(i["state"] == "running" for i in m["items"]))
            await asyncio.to_thread(wait_for, lambda: "remote_left" in session.kinds(), WAIT, session.core.poll)
            session.core.key("Up")  # faster while the client is away: a new snapshot mid-set
            session.advance(3.0)
            async with http.ws_connect(session.ws_url()) as ws:
                w = await recv(ws)
                assert w["state"]["set_state"] == "running" and w["state"]["set_index"] == 1
                snaps = await recv_until(ws, lambda m: m["type"] == "snapshots")
                history = engine.history
                assert [i["start"] for i in snaps["items"]] == [s.start for s in history]
                assert snaps["items"][-1]["phase0"] == history[-1].phase0
                assert snaps["now_frame"] == engine.next_frame
    run(go())
    wait_for(lambda: session.kinds().count("remote_connected") == 2, poll=session.core.poll)
    assert session.kinds().count("remote_left") >= 1


# ------------------------------------------------------------------ bls script


def test_bls_script_invites_prints_the_link_and_the_link_ends_with_the_session():
    from bls.session.script import parse_script, run as run_script

    script = parse_script("preset: standard\nactions:\n  - {at: 0.0, do: invite}\n  - {at: 0.5, do: start}\n"
                          "  - {at: 2.0, do: stop}\n")
    said = []
    core = run_script(script, builtin_presets()["standard"], SessionRecord(), say=said.append)
    assert any("invite: http://127.0.0.1:" in line and "/r/" in line for line in said), said
    kinds = [e["kind"] for e in core.record.events]
    assert "remote_invited" in kinds and "remote_uninvited" in kinds and core.remote["invited"] is False
    invited = next(e for e in core.record.events if e["kind"] == "remote_invited")
    assert invited["url"].startswith("http://127.0.0.1:")
    with pytest.raises(Exception) as e:
        parse_script("actions:\n  - {at: 0, do: invite, port: 70000}\n")
    assert "port" in str(e.value)
    # an address that cannot be listened on is refused with the system's reason, and the script goes on
    said = []
    core = run_script(parse_script("actions:\n  - {at: 0, do: invite, host: 192.0.2.1}\n  - {at: 0.1, do: start}\n"
                                   "  - {at: 3, do: stop}\n"),
                      builtin_presets()["standard"], SessionRecord(), say=said.append)
    assert any("invite: refused:" in line and "192.0.2.1" in line for line in said), said  # not a bare errno
    assert "remote_invited" not in [e["kind"] for e in core.record.events] and len(core.record.sets) == 1


# ------------------------------------------------------------------ a real browser

CHROMIUM = "/usr/bin/chromium"
MODEL_FILES = ("model.js", "clock.js", "worklet.js")


def _browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Python playwright is not installed (pip install playwright)")
    import os
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    return sync_playwright


def test_chromium_opens_the_page_under_its_csp_waits_and_connects(session):
    sync_playwright = _browser()
    missing = [f for f in MODEL_FILES if not (pages.WEB_DIR / f).exists()]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            errors, failed = [], []
            page.on("console", lambda m: m.type == "error" and errors.append(m.text))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: failed.append(r.url))
            bad = []
            page.on("response", lambda r: r.status >= 400 and bad.append(r.url))
            resp = page.goto(session.url)
            assert resp.status == 200
            csp = resp.headers["content-security-policy"]
            for rule in ("default-src 'self'", "script-src 'self'", "worker-src 'self'", "object-src 'none'"):
                assert rule in csp
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "http" not in csp
            assert resp.headers["referrer-policy"] == "no-referrer"
            page.wait_for_function("() => window.blsTest && window.blsTest.state().conn === 'open'"
                                   " && window.blsTest.state().welcome", timeout=10_000)
            assert "waiting for your therapist" in page.inner_text("#message").lower()
            # the page validates what it receives, with the server's rules
            assert page.evaluate("window.blsTest.validate({v: 1, type: 'snapshots', items: [], now_frame: -1,"
                                 " sent_ms: 0}, 'server')") == ["snapshots.now_frame: not int"]
            assert page.evaluate("window.blsTest.decode('x'.repeat(70000), 'server')[1][0]").startswith(
                "the message is 70000 bytes")
            # it said hello: the therapist sees its screen
            wait_for(lambda: (session.core.remote.get("screen") or (0,))[0] == 1280, poll=session.core.poll)
            # a set runs: the page follows its frames
            session.core.start()
            session.advance(1.0)
            page.wait_for_function("() => window.blsTest.state().setState === 'running'"
                                   " && window.blsTest.frames().length > 5", timeout=10_000)
            frames = [f for f, _x in page.evaluate("window.blsTest.frames()")]
            assert frames == sorted(frames)
            # the therapist quits: the page says so
            session.core.quit()
            page.wait_for_function("() => window.blsTest.state().ended", timeout=10_000)
            assert "ended the session" in page.inner_text("#message")
            # no errors, no third party; while the stimulus files are not on this branch their 404s only
            third_party = [u for u in failed + bad if not u.startswith(session.base)]
            assert not third_party
            expected_404 = {f"{session.base}/static/{f}" for f in missing}
            assert set(bad) <= expected_404, bad
            unexpected = [e for e in errors if not (missing and "404" in e)]
            assert not unexpected, unexpected
        finally:
            browser.close()


def test_chromium_a_second_browser_is_told_and_the_sound_tap_starts_audio(session):
    sync_playwright = _browser()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"])
        try:
            first = browser.new_page()
            first.goto(session.url)
            first.wait_for_function("() => window.blsTest && window.blsTest.state().welcome", timeout=10_000)
            second = browser.new_context().new_page()
            second.goto(session.url)
            second.wait_for_function("() => window.blsTest && window.blsTest.state().refused", timeout=10_000)
            assert "Another device is already connected" in second.inner_text("#message")
            first.click("#sound")
            first.wait_for_function("() => document.querySelector('#check').disabled === false", timeout=10_000)
            first.wait_for_function("() => window.blsTest.state().sound", timeout=10_000)
            wait_for(lambda: session.core.remote.get("sound") is True, poll=session.core.poll)
        finally:
            browser.close()


def test_chromium_the_headphone_check_says_each_ear_and_the_page_fades_when_the_therapist_quits(session):
    sync_playwright = _browser()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"])
        try:
            page = browser.new_page()
            page.goto(session.url)
            page.wait_for_function("() => window.blsTest && window.blsTest.state().welcome", timeout=10_000)
            page.click("#sound")
            page.wait_for_function("() => window.blsTest.state().sound", timeout=10_000)
            awake = page.evaluate("window.blsTest.state().awake")
            page.click("#check")
            page.wait_for_function("() => window.blsTest.state().side === 'Left ear'", timeout=5_000)
            page.wait_for_function("() => window.blsTest.state().side === 'Right ear'", timeout=5_000)
            page.wait_for_function("() => window.blsTest.state().side === ''", timeout=5_000)
            session.core.quit()  # the therapist's app ends the session
            page.wait_for_function("() => window.blsTest.state().endedClass", timeout=5_000)
            assert page.inner_text("#message") == "Your therapist has ended the session."
            assert page.evaluate("window.blsTest.state().conn") == "closed"
        finally:
            browser.close()
    # headless Chromium grants the screen wake lock to a visible page (where a browser refuses it, the
    # page goes on: the screen may dim)
    assert awake is True


def test_connections_beyond_the_bound_are_refused_and_status_reports_are_bounded(session, monkeypatch):
    monkeypatch.setattr(S, "MAX_CONNECTIONS", 1)

    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(session.ws_url()) as ws:
                await recv(ws)
                with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                    await http.ws_connect(session.ws_url())
                assert e.value.status == 503
                for i in range(30):  # many reports before the core polls: one waits, the latest
                    await ws.send_str(P.encode(P.status(True, float(i), i, None), "client"))
                await asyncio.to_thread(wait_for, lambda: session.core._remote.status["dropped_frames"] == 29)
                changes = session.core._remote.take_changes()
                assert [k for k, _ in changes] == ["connected", "status"] and changes[-1][1]["dropped_frames"] == 29
    run(go())


def test_a_slow_round_trip_raises_the_lead_and_the_client_is_told(session):
    """The client answers pings 300 ms late (its pongs echo a send time 300 ms earlier): after five
    round trips the therapist's side proposes a lead of the 90th percentile plus 100 ms, rounded up
    to 10 ms, and sends it; a client that rejoins gets it in its welcome."""
    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(session.ws_url()) as ws:
                w = await recv(ws)
                assert w["lead_ms"] == P.DEFAULT_LEAD_MS
                ping = await recv_until(ws, lambda m: m["type"] == "ping", timeout=B.PING_S + WAIT)
                for _ in range(5):
                    await ws.send_str(P.encode(P.pong(ping["id"], ping["sent_ms"] - 300.0), "client"))
                lead = await recv_until(ws, lambda m: m["type"] == "lead")
            async with http.ws_connect(session.ws_url()) as ws:
                again = await recv(ws)
            return lead["lead_ms"], again["lead_ms"]
    lead, rejoined = run(go())
    assert 400.0 < lead <= 450.0 and lead % 10 == 0  # 300 ms and the time to answer, + 100, rounded up
    assert rejoined == lead
    wait_for(lambda: session.core.remote.get("lead_ms") == lead, poll=session.core.poll)
