"""Firefox driven over WebDriver BiDi, the protocol Firefox itself speaks (``--remote-debugging-port``),
so no geckodriver and no browser download: Debian's ``firefox-esr``. A small synchronous client: a
thread of its own runs the asyncio loop and the WebSocket; ``evaluate`` runs a function in the page.

Preferences for the test profile: sound may start without a real tap (a test cannot tap), as Chromium's
``--autoplay-policy=no-user-gesture-required``; nothing is fetched from Mozilla's servers."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

PREFS = {
    "media.autoplay.default": 0,
    "media.autoplay.block-webaudio": False,
    "media.autoplay.blocking_policy": 0,
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.enabled": False,
    "app.update.enabled": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "network.captive-portal-service.enabled": False,
    "extensions.update.enabled": False,
}


def firefox() -> str | None:
    return shutil.which("firefox-esr") or shutil.which("firefox")


class BiDiError(RuntimeError):
    pass


class Firefox:
    def __init__(self, profile: Path, width: int = 1280, height: int = 720):
        exe = firefox()
        if exe is None:
            raise FileNotFoundError("firefox-esr")
        profile.mkdir(parents=True, exist_ok=True)
        (profile / "user.js").write_text("".join(
            f'user_pref("{k}", {str(v).lower() if isinstance(v, bool) else repr(v) if isinstance(v, str) else v});\n'
            .replace("'", '"') for k, v in PREFS.items()))
        self.proc = subprocess.Popen([exe, "--headless", "--remote-debugging-port", "0", "--profile", str(profile),
                                      "--no-remote", "--width", str(width), "--height", str(height)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url = None
        deadline = time.monotonic() + 60
        while url is None:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                raise BiDiError("Firefox ended before it listened")
            m = re.search(r"WebDriver BiDi listening on (ws://\S+)", line)
            if m:
                url = m.group(1)
            if time.monotonic() > deadline:
                raise BiDiError("Firefox did not start its WebDriver BiDi server")
        # drain its stderr from now on (a full pipe would block it)
        threading.Thread(target=lambda: [None for _ in self.proc.stderr], daemon=True).start()
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        self._n = 0
        self._call(self._connect(url + "/session"))
        self._cmd("session.new", {"capabilities": {}})
        tree = self._cmd("browsingContext.getTree", {})
        self.context = tree["contexts"][0]["context"]

    def _call(self, coro, timeout: float = 60.0):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _connect(self, url: str) -> None:
        import aiohttp  # noqa: PLC0415
        self._http = aiohttp.ClientSession()
        self._ws = await self._http.ws_connect(url, max_msg_size=64 * 1024 * 1024)

    async def _send(self, method: str, params: dict) -> dict:
        self._n += 1
        n = self._n
        await self._ws.send_json({"id": n, "method": method, "params": params})
        while True:
            m = await self._ws.receive_json(timeout=60)
            if m.get("id") == n:
                if m.get("type") == "error":
                    raise BiDiError(f"{method}: {m.get('error')}: {m.get('message')}")
                return m["result"]

    def _cmd(self, method: str, params: dict) -> dict:
        return self._call(self._send(method, params))

    def goto(self, url: str) -> None:
        self._cmd("browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"})

    def evaluate(self, function: str, *args):
        """``function`` (JavaScript source of a function) called with ``args`` (JSON values) in the page;
        its result as a Python value (promises awaited)."""
        import json  # noqa: PLC0415
        expr = f"(async () => JSON.stringify(await ({function})(...{json.dumps(list(args))})))()"
        r = self._cmd("script.evaluate", {"expression": expr, "target": {"context": self.context},
                                          "awaitPromise": True})
        if r.get("type") == "exception":
            raise BiDiError(r["exceptionDetails"].get("text", "an exception in the page"))
        value = r["result"].get("value")
        return None if value is None else json.loads(value)

    def wait_for(self, function: str, timeout: float = 10.0, poll=None):
        """Until ``function()`` is truthy in the page (``poll()`` between tries); its value."""
        deadline = time.monotonic() + timeout
        while True:
            v = self.evaluate(function)
            if v:
                return v
            if time.monotonic() > deadline:
                raise BiDiError(f"timed out waiting for {function}")
            if poll is not None:
                poll()
            self.evaluate("() => new Promise(r => setTimeout(r, 20))")

    def click(self, selector: str) -> None:
        """A real click (pointer actions at the element's centre), not a script's."""
        box = self.evaluate(f"() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect(); "
                            "return [r.x + r.width / 2, r.y + r.height / 2]; }")
        self._cmd("input.performActions", {"context": self.context, "actions": [{
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": [
                {"type": "pointerMove", "x": int(box[0]), "y": int(box[1])},
                {"type": "pointerDown", "button": 0}, {"type": "pointerUp", "button": 0}]}]})

    def close(self) -> None:
        try:
            self._call(self._send("browser.close", {}), 10)
        except Exception:  # noqa: BLE001 - it may close the socket before answering
            pass
        try:
            self._call(self._http.close(), 5)
        except Exception:  # noqa: BLE001
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
