"""The remote client's page as a design for the outside instrument (``scripts/external-sync --designs browser``).

One process plays both sides of a telehealth session on this machine:

- the therapist's side: a :class:`~bls.session.SessionCore` on the system clock with no audio device (the
  app without a sound card), invited (``core.invite()``: the embedded server on 127.0.0.1), one endless
  set of the standard preset (``set_mode: free``) started once the page has sound, ``core.poll()`` every
  15 ms as the app's timer does;
- the client's side: Debian's Chromium, headed (not headless) on the X display in ``$DISPLAY``, full
  screen on the client monitor (``--screen x,y,w,h``), driven by Playwright: it opens the link and taps
  "Allow sound". The page plays the set itself: its AudioWorklet renders the panned tone, its canvas draws
  the target for the stimulus frame heard when the picture is shown (``getOutputTimestamp``).

Chromium's sound goes to JACK, where the recorder taps it: there is no PulseAudio here, so Chromium plays
to ALSA's ``default`` PCM, which an ALSA configuration of this module's own (``ALSA_CONFIG_PATH``: the
system's ``alsa.conf`` and :data:`ALSA_CONF`) makes the ALSA ``jack`` plugin (libasound2-plugins) on the
JACK server named in ``$JACK_DEFAULT_SERVER``. The plugin registers ports ``<client>:out_000`` and
``out_001`` and joins them to ``system:playback_1``/``_2``, as bls's own ports are.

Every second the page's own figures (``window.blsTest.state()``: its internal A/V offset, frames it
dropped; ``AudioContext.outputLatency`` and ``baseLatency``) are kept; at the end they go to ``--log``
(JSON, with ``sets[0].display`` naming the display path as bls's session record does). SIGTERM ends the
run cleanly: the set stops, Chromium closes, the session ends.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
#: Debian/Ubuntu (multiarch), Fedora/Arch layouts
ALSA_JACK_PLUGIN = ("/usr/lib/*/alsa-lib/libasound_module_pcm_jack.so", "/usr/lib*/alsa-lib/libasound_module_pcm_jack.so")
SYSTEM_ALSA_CONF = "/usr/share/alsa/alsa.conf"
#: ALSA's default PCM made the jack plugin (through ``plug``: any rate or format Chromium asks for)
ALSA_CONF = """\
pcm.!default {
  type plug
  slave.pcm "blsjack"
}
pcm.blsjack {
  type jack
  playback_ports {
    0 system:playback_1
    1 system:playback_2
  }
}
ctl.!default {
  type hw
  card 0
}
"""
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--no-default-browser-check", "--disable-translate",
        "--autoplay-policy=no-user-gesture-required", "--alsa-output-device=default", "--kiosk",
        "--disable-features=Translate,MediaRouter", "--password-store=basic"]
POLL_S = 0.015  # the app's poll timer
STATE_EVERY_S = 1.0
PAGE_STATE = "() => window.blsTest.state()"


def missing() -> str | None:
    """Why the browser design cannot run here, or None."""
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if not any(glob.glob(g) for g in ALSA_JACK_PLUGIN):
        return "the ALSA jack plugin is not installed (apt-get install libasound2-plugins)"
    try:
        import aiohttp  # noqa: F401, PLC0415
        import playwright.sync_api  # noqa: F401, PLC0415
    except ImportError as e:
        return f"needs {e.name} (pip install playwright aiohttp)"
    if not Path(SYSTEM_ALSA_CONF).exists():
        return f"no {SYSTEM_ALSA_CONF}"
    return None


def chromium_env(workdir: Path, base: dict | None = None) -> dict:
    """Chromium's environment: ALSA's default PCM is the jack plugin on ``$JACK_DEFAULT_SERVER``."""
    conf = workdir / "alsa-jack.conf"
    conf.write_text(ALSA_CONF, encoding="utf-8")
    env = dict(os.environ if base is None else base)
    env["ALSA_CONFIG_PATH"] = f"{SYSTEM_ALSA_CONF}:{conf}"
    env.pop("PULSE_RUNTIME_PATH", None)
    env["PULSE_SERVER"] = "unix:/nonexistent"  # never a PulseAudio of the host: ALSA, always
    return env


def run(seconds: float, screen: tuple[int, int, int, int], workdir: Path, log: Path | None,
        stop: threading.Event) -> int:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    from bls.core.preset import builtin_presets  # noqa: PLC0415
    from bls.session import SessionCore, SessionRecord  # noqa: PLC0415
    from bls.session.clocks import ClockManager  # noqa: PLC0415

    x, y, w, h = screen
    settings = builtin_presets()["standard"].with_("motion", set_mode="free")
    core = SessionCore(settings, lambda engine, _want: ClockManager(engine, False, None), SessionRecord())
    states: list[dict] = []
    info: dict = {"display": "browser canvas: Chromium (headed), 2D canvas + AudioWorklet, ALSA -> JACK",
                  "chromium": None, "url": None, "started": False}
    try:
        url = core.invite()
        info["url"] = url
        print(f"browser: the page is {url}", flush=True)
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                str(workdir / "chromium-profile"), executable_path=CHROMIUM, headless=False, no_viewport=True,
                args=[*ARGS, f"--window-position={x},{y}", f"--window-size={w},{h}"],
                env=chromium_env(workdir), ignore_default_args=["--enable-automation"])
            try:
                info["chromium"] = ctx.browser.version if ctx.browser else None
                page = ctx.pages[0] if ctx.pages else ctx.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(url)
                page.wait_for_function("() => window.blsTest && window.blsTest.state().welcome", timeout=30_000)
                page.click("#sound")
                page.wait_for_function("() => window.blsTest.state().sound", timeout=30_000)
                core.start()
                core.poll()
                info["started"] = True
                print("browser: the set runs", flush=True)
                deadline = time.monotonic() + seconds
                next_state = time.monotonic()
                while not stop.is_set() and time.monotonic() < deadline:
                    core.poll()
                    if time.monotonic() >= next_state:
                        next_state += STATE_EVERY_S
                        st = page.evaluate(PAGE_STATE)
                        st["t"] = time.time()
                        states.append(st)
                        if len(states) == 1 or not st.get("clock"):
                            print(f"browser: page {st}", flush=True)
                    stop.wait(POLL_S)
                info["page_errors"] = errors
            finally:
                ctx.close()
        return 0
    finally:
        core.quit()
        core.poll()
        if log is not None:
            offs = [s["avOffsetMs"] for s in states if isinstance(s.get("avOffsetMs"), (int, float))]
            info["page_av_offset_ms_last"] = offs[-1] if offs else None
            info["page_dropped_last"] = states[-1].get("dropped") if states else None
            log.write_text(json.dumps({"sets": [info], "page_states": states}, indent=1), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bls.bench.browser", description=(
        "Invite the remote client, open it in headed Chromium (sound to JACK through ALSA) on $DISPLAY's "
        "client monitor, and run one endless standard set until SIGTERM or --seconds."))
    ap.add_argument("--seconds", type=float, default=120.0, help="end after this long (default 120)")
    ap.add_argument("--screen", default="1280,0,1920,1080", help="client monitor x,y,w,h (default DUMMY1's)")
    ap.add_argument("--workdir", default=None, help="Chromium's profile and the ALSA file (default: a temp dir)")
    ap.add_argument("--log", default=None, help="write the page's figures here (JSON)")
    a = ap.parse_args(argv)
    why = missing()
    if why:
        print(f"browser: {why}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    screen = tuple(int(v) for v in a.screen.split(","))
    with tempfile.TemporaryDirectory(prefix="bls-browser-") as tmp:
        workdir = Path(a.workdir) if a.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        return run(a.seconds, screen, workdir, Path(a.log) if a.log else None, stop)


if __name__ == "__main__":
    sys.exit(main())
