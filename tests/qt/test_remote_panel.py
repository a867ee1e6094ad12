"""The control window's "Invite remote client" section: the link, and the client's state as it reports it."""

from __future__ import annotations

import asyncio

import pytest

aiohttp = pytest.importorskip("aiohttp")

from bls.core.preset import builtin_presets  # noqa: E402
from bls.remote import protocol as P  # noqa: E402
from bls.session import SessionCore, SessionRecord  # noqa: E402
from bls.session.script import ScriptClock  # noqa: E402
from bls.ui.remote_panel import RemotePanel, brief, describe  # noqa: E402


@pytest.fixture
def core():
    c = SessionCore(builtin_presets()["standard"], lambda engine, _w: ScriptClock(engine), SessionRecord())
    yield c
    c.quit()


def test_invite_shows_the_link_then_the_connected_client(core, qtbot):
    panel = RemotePanel(core)
    qtbot.addWidget(panel)
    assert panel.state.text() == "Not invited." and not panel.copy_button.isEnabled()
    panel.invite(panel.addresses[0][1])  # the button: at once with one address, else a menu of them
    url = panel.url
    assert url.startswith("http://127.0.0.1:") and "/r/" in url and panel.copy_button.isEnabled()
    assert panel.state.text() == f"Waiting for the client: {url}" and panel.invite_button.text() == "End link"
    panel.copy_button.click()
    if panel.qr_button.isVisible() or __import__("importlib").util.find_spec("segno"):
        panel.qr_button.click()
        qtbot.waitUntil(lambda: panel.qr_popup is not None and panel.qr_popup.isVisible())
        img = panel.qr_popup.pixmap().toImage()
        assert img.width() == img.height() >= 29 * 5  # version 3 or more at 5 px a module
        assert img.pixelColor(0, 0).name() == "#ffffff"  # the quiet zone
    from PySide6.QtGui import QGuiApplication
    assert QGuiApplication.clipboard().text() == url
    ws_url = url.replace("http", "ws", 1).replace("/r/", "/ws/")

    async def client():
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(ws_url) as ws:
                await ws.receive(timeout=5)
                await ws.send_str(P.encode(P.hello(1600, 900, 1.0, "running"), "client"))
                await ws.send_str(P.encode(P.status(True, -4.0, 3, None), "client"))
                while True:
                    m = await ws.receive(timeout=5)
                    msg, _ = P.decode(m.data, "server")
                    if msg and msg["type"] == "ping":
                        await ws.send_str(P.encode(P.pong(msg["id"], msg["sent_ms"]), "client"))
                        break
                # the panel shows what the client said (the core is polled on this side, as the app's timer does)
                for _ in range(500):
                    await asyncio.sleep(0.01)
                    core.poll()
                    if "…" not in panel.state.text() and panel.state.text().startswith("Connected"):
                        return panel.state.text(), panel.state.toolTip()
                raise AssertionError(panel.state.text())
    text, tip = asyncio.run(client())
    assert text.startswith("Connected · ") and "sound on" in text and text.endswith("· 3 dropped")
    assert "sound playing" in tip and "screen 1600×900" in tip and "A/V -4 ms" in tip and "3 dropped frames" in tip
    assert "plays 250 ms behind this computer" in tip and url in tip
    qtbot.waitUntil(lambda: (core.poll(), "Waiting for the client" in panel.state.text())[1], timeout=5000)
    panel.invite_button.click()  # ends the link
    assert panel.url == "" and panel.state.text() == "Not invited." and not panel.copy_button.isEnabled()
    kinds = [e["kind"] for e in core.record.events]
    assert kinds.count("remote_connected") == 1 and "remote_left" in kinds and "remote_uninvited" in kinds


def test_describe_is_plain_about_each_state():
    assert describe({"invited": False}) == "Not invited."
    assert describe({"invited": True, "connected": True, "rtt_ms": None, "sound": False, "screen": None,
                     "av_offset_ms": None, "dropped_frames": 0}) == \
        "Connected · round trip … · sound not playing yet · 0 dropped frames"


def test_quitting_the_app_tells_the_client_and_stops_the_server_within_a_second(bls_app):
    import threading
    import time

    core = bls_app.session.core
    bls_app.control.remote_panel.invite("127.0.0.1")
    server = core._remote
    ws_url = server.url.replace("http", "ws", 1).replace("/r/", "/ws/")
    ready, got = threading.Event(), []

    async def client():  # on a thread of its own: the app quits on this (the GUI) thread
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(ws_url) as ws:
                await ws.receive(timeout=5)  # welcome
                ready.set()
                while True:
                    m = await ws.receive(timeout=5)
                    if m.type != aiohttp.WSMsgType.TEXT:
                        break
                    got.append(P.decode(m.data, "server")[0]["type"])

    t = threading.Thread(target=lambda: asyncio.run(client()))
    t.start()
    assert ready.wait(5)
    t0 = time.monotonic()
    bls_app.shutdown()
    took = time.monotonic() - t0
    t.join(5)
    assert got and got[-1] == "bye", got
    assert took < 1.5 + 1.0  # the fade's wait (the app's own) plus at most a second for the server
    assert not server._thread.is_alive() and core.remote["invited"] is False
    assert "remote_uninvited" in [e["kind"] for e in core.record.events]


class _Relay:
    """A ``bls relay`` node (in this process, on a thread of its own, rooms kept in this node)."""

    KEY = "practice-key-" + "p" * 30

    def __init__(self):
        import threading

        from aiohttp import web

        from bls.remote.relay import Relay
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def up():
            self.runner = web.AppRunner(Relay([self.KEY], log=lambda _l: None).app())
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0)
            await site.start()
            self.base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"

        def main():
            self.loop.run_until_complete(up())
            ready.set()
            self.loop.run_forever()
        self.thread = threading.Thread(target=main, daemon=True)
        self.thread.start()
        assert ready.wait(5)

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_inviting_through_a_relay_says_what_is_wrong_keeps_what_was_typed_and_remembers(core, qtbot, tmp_path):
    import os
    import stat

    from bls.remote.saved import SavedRelay
    from bls.ui.remote_panel import RelayDialog
    relay = _Relay()
    try:
        panel = RemotePanel(core)
        qtbot.addWidget(panel)
        saved_path = tmp_path / "config" / "relay.json"
        dialog = RelayDialog(panel, core, SavedRelay(saved_path))
        qtbot.addWidget(dialog)
        assert dialog.address.text() == "" and dialog.key.echoMode() == dialog.key.EchoMode.Password
        dialog.accept()  # nothing typed
        assert "address and your key" in dialog.error.text() and dialog.result() == 0
        dialog.address.setText("ftp://relay.example.org")
        dialog.key.setText(relay.KEY)
        dialog.accept()
        assert "not a relay's address" in dialog.error.text() and not core.remote["invited"]
        dialog.address.setText(relay.base)
        dialog.key.setText("not-the-key-" + "x" * 20)
        dialog.accept()
        assert "does not know this key" in dialog.error.text() and not core.remote["invited"]
        assert dialog.address.text() == relay.base  # what was typed is kept
        dialog.key.setText(relay.KEY)
        dialog.accept()
        assert dialog.result() == dialog.DialogCode.Accepted and core.remote["invited"]
        assert panel.url.startswith(relay.base + "/r/") and panel.state.text() == f"Waiting for the client: {panel.url}"
        assert stat.S_IMODE(os.stat(saved_path).st_mode) == 0o600  # the key: this user only
        again = SavedRelay(saved_path)
        assert (again.address, again.key) == (relay.base, relay.KEY)
        assert RelayDialog(panel, core, again).key.text() == relay.KEY  # offered next time
        # the record names the relay, never the key
        assert relay.KEY not in str(core.record.events)
        core.uninvite()
        # a relay.json that is not bls's is left as it is, and the dialog says so
        saved_path.write_text("my own notes\n")
        foreign = RelayDialog(panel, core, SavedRelay(saved_path))
        qtbot.addWidget(foreign)
        assert "not valid JSON" in foreign.error.text()
        foreign.address.setText(relay.base)
        foreign.key.setText(relay.KEY)
        foreign.accept()
        assert core.remote["invited"] and saved_path.read_text() == "my own notes\n"
    finally:
        core.uninvite()
        relay.stop()


def test_describe_says_when_the_relay_is_away_and_that_the_page_plays_on():
    away = describe({"invited": True, "connected": False, "relay": "reconnecting: cannot reach the relay (ClientConnectorError)"})
    assert away.startswith("The relay is not reachable (reconnecting: cannot reach") and "plays on" in away
    connected = {"invited": True, "connected": True, "relay": "connected", "rtt_ms": 40.0, "sound": True,
                 "screen": None, "av_offset_ms": None, "dropped_frames": 0, "lead_ms": 150.0}
    assert describe(connected) == ("Connected through the relay · round trip 40 ms · sound playing · "
                                   "0 dropped frames · plays 150 ms behind this computer")
    assert brief(connected) == "Connected · 40 ms · sound on"  # fits the line; the tooltip says all
    assert brief({**connected, "relay": "reconnecting"}) == describe({**connected, "relay": "reconnecting"})


def test_a_relay_that_does_not_answer_never_freezes_the_window(core, qtbot, tmp_path):
    """The relay's address takes TCP connections and never answers: inviting waits for it (about 6 s)
    on a thread of its own while the window's event loop runs on (a timer of the window's keeps firing:
    the client's screen would keep moving during a set), then says so in the dialog."""
    import socket

    from PySide6.QtCore import QTimer

    from bls.remote.saved import SavedRelay
    from bls.ui.remote_panel import RelayDialog
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(4)  # connections wait in the backlog: never accepted, never answered
    try:
        panel = RemotePanel(core)
        qtbot.addWidget(panel)
        dialog = RelayDialog(panel, core, SavedRelay(tmp_path / "relay.json"))
        qtbot.addWidget(dialog)
        dialog.address.setText(f"http://127.0.0.1:{silent.getsockname()[1]}")
        dialog.key.setText(_Relay.KEY)
        ticks = []
        timer = QTimer()
        timer.timeout.connect(lambda: ticks.append(1))
        timer.start(20)
        dialog.accept()
        timer.stop()
    finally:
        silent.close()
    assert "did not answer in time" in dialog.error.text() and not core.remote["invited"]
    assert len(ticks) > 50  # the event loop ran while it waited (0 when the wait held the GUI thread)
    assert dialog.invite_button.isEnabled() and dialog.address.text().startswith("http://127.0.0.1:")
