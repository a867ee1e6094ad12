"""``bls relay`` behind the HTTPS front README shows: Caddy with ``deploy/relay/Caddyfile`` (two relay
nodes sharing Redis, health-checked and balanced by Caddy), its certificate from Caddy's own local
authority instead of Let's Encrypt (there is no public name here). The therapist's app connects with
wss and its key, the client's page and WebSocket come over https and wss, and when the node the app is
on is killed, Caddy hands the reconnection to the other node and the client is greeted again.

Skips without caddy or redis-server (``.ci/run`` installs both)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import time

import pytest

aiohttp = pytest.importorskip("aiohttp")

from bls.core.preset import builtin_presets  # noqa: E402
from bls.session import SessionCore, SessionRecord  # noqa: E402
from bls.session.script import ScriptClock  # noqa: E402

from ._relay import KEY, RedisServer, RelayNode, free_port  # noqa: E402
from .conftest import REPO  # noqa: E402
from .test_remote_relay import wire_of_history  # noqa: E402
from .test_remote_server import recv, recv_until, wait_for  # noqa: E402

pytestmark = pytest.mark.e2e
CADDYFILE = REPO / "deploy" / "relay" / "Caddyfile"


def caddy_config(https_port: int, http_port: int, nodes: list[int]) -> str:
    """The shipped Caddyfile, for this machine: the site's name is localhost on a free port, the nodes'
    ports are the test's, and the certificate comes from Caddy's local authority."""
    text = CADDYFILE.read_text()
    assert "relay.example.org {" in text and "127.0.0.1:8765 127.0.0.1:8766" in text
    text = text.replace("relay.example.org {", f"https://localhost:{https_port} {{")
    text = text.replace("127.0.0.1:8765 127.0.0.1:8766", " ".join(f"127.0.0.1:{p}" for p in nodes))
    return ("{\n\tadmin off\n\tlocal_certs\n\tskip_install_trust\n"
            f"\thttp_port {http_port}\n\thttps_port {https_port}\n}}\n" + text)


@pytest.fixture
def front(tmp_path):
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("no caddy (apt-get install caddy; .ci/run installs it)")
    try:
        redis = RedisServer(tmp_path)
    except FileNotFoundError:
        pytest.skip("no redis-server (apt-get install redis-server; .ci/run installs it)")
    nodes = [RelayNode(redis.url), RelayNode(redis.url)]
    https_port, http_port = free_port(), free_port()
    (tmp_path / "Caddyfile").write_text(caddy_config(https_port, http_port, [n.port for n in nodes]))
    env = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
           "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([caddy, "run", "--config", str(tmp_path / "Caddyfile"), "--adapter", "caddyfile"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    root = tmp_path / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    base = f"https://localhost:{https_port}"

    def up():
        assert proc.poll() is None, proc.stderr.read()
        if not root.exists():
            return False
        try:
            ctx = ssl.create_default_context(cafile=str(root))
            with socket.create_connection(("127.0.0.1", https_port), 1.0) as s, \
                    ctx.wrap_socket(s, server_hostname="localhost"):
                return True
        except (OSError, ssl.SSLError):
            return False
    deadline = time.monotonic() + 30
    while not up():
        assert time.monotonic() < deadline, "caddy did not come up"
        time.sleep(0.05)
    yield base, str(root), nodes
    proc.terminate()
    proc.wait(5)
    for n in nodes:
        n.stop()
    redis.stop()


def test_through_the_readme_https_front_a_room_survives_its_node(front, monkeypatch):
    base, root, nodes = front
    holder = {}

    def clocks(engine, _want):
        holder["c"] = ScriptClock(engine)
        return holder["c"]
    core = SessionCore(builtin_presets()["standard"], clocks, SessionRecord())
    try:
        with pytest.raises(OSError, match="certificate is not trusted"):
            core.invite(relay=base, key=KEY)  # the system does not know Caddy's local authority
        monkeypatch.setenv("BLS_RELAY_CA", root)  # a practice's own authority, trusted beside the system's
        url = core.invite(relay=base, key=KEY)
        assert url.startswith(base + "/r/")
        ctx = ssl.create_default_context(cafile=root)
        ws_url = url.replace("https://", "wss://").replace("/r/", "/ws/") + "?c=" + "t" * 24

        async def go():
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as http:
                async with http.get(url) as r:
                    assert r.status == 200 and "Content-Security-Policy" in r.headers
                async with http.ws_connect(ws_url, headers={"Origin": base}) as ws:
                    assert (await recv(ws))["type"] == "welcome"
                    core.start()
                    holder["c"].advance_to(core.engine.next_frame + 48_000, core)
                    await recv_until(ws, lambda m: m["type"] == "snapshots"
                                     and any(i["state"] == "running" for i in m["items"]))
                    await asyncio.to_thread(wait_for, lambda: core.remote.get("connected"), 10, core.poll)
                # the node the app is on (the client has gone: the app's is the one connection left)
                await asyncio.to_thread(wait_for, lambda: sum(n.connections() for n in nodes) == 1, 10)
                holding = next(n for n in nodes if n.connections() == 1)
                holding.kill()
                await asyncio.to_thread(wait_for, lambda: core.remote["relay"] != "connected", 10, core.poll)
                await asyncio.to_thread(wait_for, lambda: core.remote["relay"] == "connected", 20, core.poll)
                async with http.ws_connect(ws_url, headers={"Origin": base}) as ws:
                    w = await recv(ws)
                    assert w["type"] == "welcome" and w["state"]["set_state"] == "running"
                    first = await recv_until(ws, lambda m: m["type"] == "snapshots")
                    assert first["items"][-1] == wire_of_history(core)[-1]
        asyncio.run(asyncio.wait_for(go(), 60))
    finally:
        core.quit()
