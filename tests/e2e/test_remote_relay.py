"""``bls relay``: the therapist's app and the client both connect out to a relay (sessions over the
internet). Real relay processes (``bls relay``), a real SessionCore on the script's manual clock, an
aiohttp client as the page's stand-in; several nodes share their rooms through a real redis-server
(started here; ``.ci/run`` installs it, and those tests skip without it).

No sleeps: every wait is for a condition, with a bound."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from urllib.parse import urlsplit

import pytest

aiohttp = pytest.importorskip("aiohttp")

from bls.core.engine import SAMPLE_RATE  # noqa: E402
from bls.core.preset import builtin_presets  # noqa: E402
from bls.remote import protocol as P  # noqa: E402
from bls.remote.link import relay_base  # noqa: E402
from bls.remote.wire import snapshot_to_wire  # noqa: E402
from bls.session import SessionCore, SessionRecord  # noqa: E402
from bls.session.script import ScriptClock  # noqa: E402

from ._relay import KEY, Balancer, RedisServer, RelayNode, free_port  # noqa: E402
from .conftest import REPO, base_env, bls_command  # noqa: E402
from .test_remote_server import recv, recv_until, run, until_closed, wait_for  # noqa: E402

pytestmark = pytest.mark.e2e
WAIT = 10.0
DEVICE = "d" * 24


class Therapist:
    """A session whose remote client is invited through the relay at ``base``."""

    def __init__(self, base: str, key: str = KEY, preset: str = "standard"):
        holder = {}

        def clocks(engine, _want):
            holder["c"] = ScriptClock(engine)
            return holder["c"]
        self.core = SessionCore(builtin_presets()[preset], clocks, SessionRecord())
        self.clock = holder["c"]
        self.url = self.core.invite(relay=base, key=key)
        self.token = urlsplit(self.url).path.rsplit("/", 1)[1]

    def ws_url(self, base: str, device: str | None = DEVICE, token: str | None = None) -> str:
        q = f"?c={device}" if device else ""
        return f"{base.replace('http', 'ws', 1)}/ws/{token or self.token}{q}"

    def advance(self, seconds: float) -> None:
        self.clock.advance_to(self.core.engine.next_frame + int(seconds * SAMPLE_RATE), self.core)

    def kinds(self) -> list[str]:
        return [e["kind"] for e in self.core.record.events]

    def wait_remote(self, cond, timeout: float = WAIT) -> dict:
        wait_for(lambda: cond(self.core.remote), timeout, self.core.poll)
        return self.core.remote


def wire_of_history(core) -> list[dict]:
    e = core.engine
    return [snapshot_to_wire(s, e.feel, e.settings.gentle, dict(core.unlocks)) for s in e.history]


@pytest.fixture
def node():
    n = RelayNode()
    yield n
    n.stop()


@pytest.fixture
def redis(tmp_path):
    try:
        server = RedisServer(tmp_path)
    except FileNotFoundError:
        pytest.skip("no redis-server (apt-get install redis-server; .ci/run installs it)")
    yield server
    server.stop()


# ------------------------------------------------------------------ the command


def test_the_relay_will_not_start_without_a_key_and_says_how_to_make_one(tmp_path):
    def relay(*args, **env):
        return subprocess.run(bls_command() + ["relay", *args], cwd=REPO, env=base_env(BLS_RELAY_KEYS="", **env),
                              capture_output=True, text=True, timeout=30)
    none = relay("--port", "1")
    assert none.returncode == 2 and "no keys" in none.stderr and "--new-key" in none.stderr
    (tmp_path / "keys").write_text("# the practice's keys\n" + "a" * 40 + "\nshort\n")
    short = relay("--keys", str(tmp_path / "keys"))
    assert short.returncode == 2 and "line 3" in short.stderr and "at least 24" in short.stderr
    missing = relay("--keys", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "cannot read the keys file" in missing.stderr
    made = {relay("--new-key").stdout.strip() for _ in range(2)}
    assert len(made) == 2 and all(len(k) >= 40 for k in made)  # 32 random bytes each, never the same
    assert "Traceback" not in none.stderr + short.stderr + missing.stderr


def test_a_relay_address_is_checked_before_anything_connects():
    assert relay_base("relay.example.org/") == "https://relay.example.org"
    assert relay_base(" http://127.0.0.1:8765 ") == "http://127.0.0.1:8765"
    for bad in ("ftp://relay.example.org", "https://", "https://relay.example.org/?x=1"):
        with pytest.raises(ValueError):
            relay_base(bad)


def test_a_wrong_key_or_a_relay_that_is_not_there_is_told_and_nothing_is_left_running(node):
    core = SessionCore(builtin_presets()["standard"], lambda e, _w: ScriptClock(e), SessionRecord())
    with pytest.raises(OSError, match="does not know this key"):
        core.invite(relay=node.base, key="wrong-" + "x" * 30)
    assert core.remote["invited"] is False
    port = node.port
    node.kill()
    with pytest.raises(OSError, match="cannot reach the relay"):
        core.invite(relay=f"http://127.0.0.1:{port}", key=KEY)
    assert core.remote["invited"] is False
    core.quit()


# ------------------------------------------------------------------ one node


def test_through_a_relay_the_client_gets_the_set_and_the_therapist_sees_it(node):
    t = Therapist(node.base)
    assert t.url.startswith(node.base + "/r/") and len(t.token) >= 32

    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.get(t.url) as r:
                assert r.status == 200 and "default-src 'self'" in r.headers["Content-Security-Policy"]
            async with http.get(f"{node.base}/r/{'x' * 32}") as r:
                assert r.status == 404  # a token the relay has no room for
            async with http.ws_connect(t.ws_url(node.base)) as ws:
                w = await recv(ws)
                assert w["type"] == "welcome" and w["state"]["set_state"] == "idle"
                first = await recv_until(ws, lambda m: m["type"] == "snapshots")
                assert first["items"] == wire_of_history(t.core)  # the same snapshots, through the relay
                await asyncio.to_thread(t.wait_remote, lambda r: r["connected"])
                t.core.start()
                t.advance(0.5)
                m = await recv_until(ws, lambda m: m["type"] == "snapshots"
                                     and any(i["state"] == "running" for i in m["items"]))
                # the therapist's frame when it was sent (the clock may have been mid-advance then)
                assert 0 < m["now_frame"] <= t.core.engine.next_frame == int(0.5 * SAMPLE_RATE)
                await ws.send_str(P.encode(P.hello(1280, 800, 2.0, "running"), "client"))
                await ws.send_str(P.encode(P.status(True, 3.5, 1, 12000.0), "client"))
                ping = await recv_until(ws, lambda m: m["type"] == "ping")
                await ws.send_str(P.encode(P.pong(ping["id"], ping["sent_ms"]), "client"))
                seen = await asyncio.to_thread(t.wait_remote, lambda r: r["rtt_ms"] is not None and r["sound"])
                # malformed: the relay answers with the problems and forwards nothing
                await ws.send_str(json.dumps({"v": 1, "type": "status", "sound": "loud"}))
                err = await recv_until(ws, lambda m: m["type"] == "error")
                assert any("status.sound" in p for p in err["problems"])
                # a second device is refused; the same device coming back takes over its old connection
                async with http.ws_connect(t.ws_url(node.base, "e" * 24)) as other:
                    assert (await until_closed(other))[0] == 4409
                async with http.ws_connect(t.ws_url(node.base)) as again:
                    assert (await recv(again))["type"] == "welcome"
                    assert (await until_closed(ws))[0] == 4408
                    t.core.uninvite("the session ended")
                    bye = await recv_until(again, lambda m: m["type"] == "bye")
                    assert bye["reason"] == "the session ended"
                    assert (await until_closed(again))[0] == 4000
            async with http.get(t.url) as r:
                assert r.status == 404  # the link expired with the session
            return seen
    seen = run(go())
    assert seen["screen"] == (1280, 800, 2.0) and seen["av_offset_ms"] == 3.5 and seen["dropped_frames"] == 1
    assert 0 <= seen["rtt_ms"] < 1000 and seen["via"].startswith("the relay at 127.0.0.1:")
    kinds = t.kinds()
    assert kinds.index("remote_connected") < kinds.index("remote_uninvited")
    t.core.quit()


def test_a_relay_refuses_what_a_page_may_not_send_and_floods(node):
    t = Therapist(node.base)

    async def go():
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(t.ws_url(node.base), headers={"Origin": "https://evil.example"}) as ws:
                pass
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        run(go())
    assert refused.value.status == 403

    async def flood():
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(t.ws_url(node.base)) as ws:
                await recv(ws)
                # a page posing as the therapist (a snapshot at 5 cycles/s) is refused and nothing is forwarded
                await ws.send_str(json.dumps({"v": 1, "type": "snapshots", "items": [], "now_frame": 0, "sent_ms": 0}))
                err = await recv_until(ws, lambda m: m["type"] == "error")
                assert any("snapshots" in p and "from the client" in p for p in err["problems"])
                t0 = time.monotonic()
                for _ in range(200):
                    await ws.send_str(P.encode(P.status(True, None, 0, None), "client"))
                code, _ = await until_closed(ws)
                return code, time.monotonic() - t0
    code, took = run(flood())
    assert code == 4429 and took < WAIT
    t.core.quit()


# ------------------------------------------------------------------ several nodes, one Redis


def test_a_room_spans_nodes_and_lives_on_when_the_nodes_holding_it_are_killed(redis):
    a, b = RelayNode(redis.url), RelayNode(redis.url)
    lb = Balancer([a.port, b.port])
    nodes = [a, b]
    t = None
    try:
        t = Therapist(lb.base)  # the app's connection: the balancer's first node (a)
        assert lb.served == [0]

        async def go():
            async with aiohttp.ClientSession() as http:
                # the client on the other node: everything between them crosses Redis
                async with http.ws_connect(t.ws_url(b.base)) as ws:
                    assert (await recv(ws))["type"] == "welcome"
                    t.core.start()
                    t.advance(1.0)
                    await recv_until(ws, lambda m: m["type"] == "snapshots"
                                     and any(i["state"] == "running" for i in m["items"]))
                    await asyncio.to_thread(t.wait_remote, lambda r: r["connected"])
                    # the therapist's node dies: the app reconnects through the balancer (to b), the
                    # client stays, is greeted again and follows what the therapist does next
                    a.kill()
                    await asyncio.to_thread(t.wait_remote, lambda r: r["relay"].startswith("reconnecting"))
                    await asyncio.to_thread(t.wait_remote, lambda r: r["relay"] == "connected" and r["connected"], 20)
                    w = await recv_until(ws, lambda m: m["type"] == "welcome", 20)
                    assert w["state"]["set_state"] == "running"
                    assert t.core.set_field("motion.speed_cycles_per_s", 1.4) == "applied"
                    t.advance(0.5)
                    newest = wire_of_history(t.core)[-1]
                    await recv_until(ws, lambda m: m["type"] == "snapshots" and newest in m["items"], 20)
                # a third node comes up and the second dies with both sides on it: both come back
                # through the third, the same device is let in at once (its old slot was on the dead node)
                c = RelayNode(redis.url)
                nodes.append(c)
                lb.ports.append(c.port)
                b.kill()
                await asyncio.to_thread(t.wait_remote, lambda r: r["relay"].startswith("reconnecting"))
                await asyncio.to_thread(t.wait_remote, lambda r: r["relay"] == "connected", 20)
                async with http.ws_connect(t.ws_url(c.base)) as ws:
                    w = await recv(ws)
                    assert w["type"] == "welcome" and w["state"]["set_state"] == "running"
                    first = await recv_until(ws, lambda m: m["type"] == "snapshots")
                    assert first["items"][-1] == wire_of_history(t.core)[-1]  # it resumes at the current phase
                    await asyncio.to_thread(t.wait_remote, lambda r: r["connected"], 20)
        run_long(go())
        kinds = t.kinds()
        assert kinds.count("remote_relay") >= 2 and "remote_connected" in kinds
        assert len(t.core.record.sets) == 0 or t.core.record.sets[0]["stop_reason"] != "device_lost"
    finally:
        if t is not None:
            t.core.quit()
        lb.stop()
        for n in nodes:
            n.stop()


def run_long(coro):
    return asyncio.run(asyncio.wait_for(coro, 90))


def test_a_script_invites_through_a_relay_with_the_key_from_the_environment(node, monkeypatch):
    from bls.session.script import ScriptError, parse_script
    from bls.session.script import run as run_script
    text = f"actions:\n  - {{at: 0, do: invite, relay: '{node.base}'}}\n  - {{at: 0.5, do: start}}\n"
    said = []
    monkeypatch.delenv("BLS_RELAY_KEY", raising=False)
    core = run_script(parse_script(text), builtin_presets()["standard"], SessionRecord(), say=said.append)
    assert any("invite: refused" in line and "$BLS_RELAY_KEY" in line for line in said), said
    assert core.remote["invited"] is False
    core.quit()
    said.clear()
    monkeypatch.setenv("BLS_RELAY_KEY", KEY)
    core = run_script(parse_script(text), builtin_presets()["standard"], SessionRecord(), say=said.append)
    assert any(f"invite: {node.base}/r/" in line for line in said), said
    invited = next(e for e in core.record.events if e["kind"] == "remote_invited")
    assert invited["relay"] == node.base
    assert KEY not in json.dumps(core.record.events)  # the key is never recorded
    core.quit()
    with pytest.raises(ScriptError, match="without host or port"):
        parse_script(f"actions:\n  - {{at: 0, do: invite, relay: '{node.base}', port: 80}}\n")


BLOCKED = ("PySide6", "shiboken6", "sounddevice", "rtmixer", "segno")


def test_the_relay_runs_with_only_the_packages_its_container_installs(tmp_path):
    """deploy/relay/Containerfile installs bls without its dependencies, then numpy, pyyaml, aiohttp and
    redis: the relay, run with every other dependency made impossible to import, serves a room."""
    containerfile = (REPO / "deploy" / "relay" / "Containerfile").read_text()
    for pkg in ("numpy", "pyyaml", "aiohttp", "redis"):
        assert f'"{pkg}>=' in containerfile
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Blocked:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] in {BLOCKED!r}:\n"
        "            raise ImportError(f'{name} is not installed in the relay container')\n"
        "sys.meta_path.insert(0, _Blocked())\n")
    port = free_port()
    env = base_env(BLS_RELAY_KEYS=KEY, PYTHONPATH=f"{tmp_path}:{REPO}")
    proc = subprocess.Popen([sys.executable, "-m", "bls", "relay", "--port", str(port)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"

        def healthy():
            assert proc.poll() is None, proc.communicate()[1]
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1.0) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_for(healthy, 20)
        t = Therapist(base)
        with urllib.request.urlopen(t.url, timeout=5) as r:
            assert r.status == 200  # the page, from a relay that could not import Qt or sound
        t.core.quit()
    finally:
        proc.terminate()
        err = proc.communicate(timeout=10)[1]
    assert "Traceback" not in err, err


def test_a_room_belongs_to_the_key_that_opened_it():
    other_key = "another-practice-" + "q" * 30
    node = RelayNode(keys=f"{KEY} {other_key}")
    try:
        t = Therapist(node.base)

        async def go():
            async with aiohttp.ClientSession() as http:
                with pytest.raises(aiohttp.WSServerHandshakeError) as taken:
                    await http.ws_connect(f"{node.base.replace('http', 'ws', 1)}/host/{t.token}",
                                          headers={"Authorization": f"Bearer {other_key}"})
                assert taken.value.status == 409
                with pytest.raises(aiohttp.WSServerHandshakeError) as nokey:
                    await http.ws_connect(f"{node.base.replace('http', 'ws', 1)}/host/{t.token}")
                assert nokey.value.status == 401
        run(go())
        t.core.poll()
        assert t.core.remote["relay"] == "connected"  # the room's own app is untouched
        t.core.quit()
    finally:
        node.stop()
