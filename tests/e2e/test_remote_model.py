"""The remote client's stimulus model (bls/remote/web/model.js, clock.js, worklet.js) in a real browser.

Headless Chromium (Debian's, driven by Playwright) loads the modules from a tiny static server started
here, takes the wire form of every snapshot of scripted engine sessions (``_remote_sessions``), and
must agree with the Python engine: the position within 0.5 px on a 1920 px screen, the audio (rendered
by ``renderInto`` and by the AudioWorklet in an OfflineAudioContext) within float32 rounding. The
model's own unit tests (model.test.js) run there too. No sleeps: every wait is on a promise or a
condition in the page.
"""

from __future__ import annotations

import base64
import functools
import http.server
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from bls.core import engine as E
from bls.core.preset import Preset
from bls.remote.wire import snapshot_to_wire, wire_caps

from . import _remote_sessions as R

pytestmark = pytest.mark.e2e

WEB = Path(__file__).resolve().parents[2] / "bls" / "remote" / "web"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]
SCREEN_PX = 1920
PX_TOL = 0.5
#: float32 rounding of the pan law's products: one float32 ulp at the cap's amplitude is 1.5e-8
AUDIO_TOL = 3e-8

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {".js": "text/javascript", ".html": "text/html", "": "application/octet-stream"}

    def do_GET(self):  # noqa: N802
        if self.path in ("/", "/blank"):
            body = b"<!doctype html><meta charset=utf-8><title>bls model test</title>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(WEB)))
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def page(server):
    if sync_playwright is None:
        pytest.skip("playwright (Python) is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian's chromium package): the browser tests need it")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        pg = browser.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(server + "/")
        pg.evaluate("""async () => {
            window.M = await import('/model.js');
            window.C = await import('/clock.js');
            window.T = await import('/model.test.js');
        }""")
        pg.wait_for_function("() => window.M && window.C && window.T")
        pg.errors = errors
        yield pg
        browser.close()


@functools.lru_cache(maxsize=None)
def session(name: str) -> R.Run:
    return R.run(name)


LOAD = """([caps, items]) => {
    window.st = new M.Stimulus(caps, {historyS: 1e9, maxItems: 1e6});
    return items.map((w) => st.push(w)).filter((r) => r !== null);
}"""


def _load(page, run: R.Run) -> None:
    refused = page.evaluate(LOAD, [wire_caps(), run.wire])
    assert refused == [], f"the page refused the engine's own snapshots: {refused}"


def _f32(b64: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype=np.float32)


RENDER = """([frame0, n, block]) => {
    const L = new Float32Array(n), R = new Float32Array(n);
    for (let a = 0; a < n; a += block) st.renderInto(frame0 + a, L.subarray(a, Math.min(n, a + block)),
                                                    R.subarray(a, Math.min(n, a + block)));
    const b64 = (x) => { let s = ''; const u = new Uint8Array(x.buffer);
        for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000));
        return btoa(s); };
    return [b64(L), b64(R)];
}"""

MEASURED: dict[str, float] = {}


def test_model_unit_tests_pass_in_the_browser(page):
    results = page.evaluate("(caps) => T.run(caps)", wire_caps())
    failed = [r for r in results if not r["ok"]]
    assert len(results) >= 20
    assert not failed, failed
    assert not page.errors


@pytest.mark.parametrize("name", R.SESSIONS)
def test_position_agrees_with_the_engine(page, name):
    run = session(name)
    _load(page, run)
    total = len(run.audio)
    frames = np.concatenate([np.arange(0, total, 53, dtype=np.float64), np.arange(0, total, 331) + 0.37,
                             [s.start for s in run.snaps], [s.start - 1 for s in run.snaps if s.start]])
    want = R.position_table(run, frames)
    got = np.array(page.evaluate("(fs) => fs.map((f) => { const s = st.sampleAt(f); return [s.x, s.y]; })",
                                 frames.tolist()))
    err_px = float(np.max(np.abs(got - want))) * SCREEN_PX / 2.0  # -1..1 spans the screen's width
    MEASURED[f"position {name}"] = err_px
    print(f"\n{name}: {len(frames)} frames, {len(run.wire)} snapshots, max position error {err_px:.3g} px")
    assert err_px <= PX_TOL
    states = {w["state"] for w in run.wire}
    assert len(states) >= 2  # the session does go through its states


@pytest.mark.parametrize("name", R.SESSIONS)
def test_audio_agrees_with_the_engine(page, name):
    run = session(name)
    _load(page, run)
    n = len(run.audio)
    left, right = (_f32(b) for b in page.evaluate(RENDER, [0, n, 128]))
    got = np.stack([left, right], axis=1)
    diff = float(np.max(np.abs(got - run.audio)))
    MEASURED[f"audio {name}"] = diff
    print(f"\n{name}: {n} frames, max audio difference {diff:.3g} (peak {float(np.max(np.abs(run.audio))):.3f})")
    assert np.max(np.abs(run.audio)) > 0.005  # there is a tone to compare
    assert diff <= AUDIO_TOL


def test_audio_from_the_middle_of_a_set_agrees(page):
    """A page that joins mid-set (no frames rendered before) rebuilds the end-point pulses from its history."""
    run = session("pulses")
    _load(page, run)
    f0, n = 70_003, 48_000
    left, right = (_f32(b) for b in page.evaluate(RENDER, [f0, n, 441]))
    diff = float(np.max(np.abs(np.stack([left, right], axis=1) - run.audio[f0:f0 + n])))
    assert diff <= AUDIO_TOL


def _worklet_render(page, items: list, f0: float, n: int, rate: float, context_rate: int) -> np.ndarray:
    """``n`` frames (n x 2) of the tone the worklet renders in an OfflineAudioContext at ``context_rate``
    with the line tau = f0 + rate * c."""
    b64 = page.evaluate("""async ([caps, items, f0, n, rate, sr]) => {
        const ctx = new OfflineAudioContext(2, n, sr);
        await ctx.audioWorklet.addModule('/worklet.js');
        const node = new AudioWorkletNode(ctx, 'bls-stimulus', {numberOfInputs: 0, outputChannelCount: [2],
            processorOptions: {caps, items, anchor: {c0: 0, tau0: f0, rate}, historyS: 1e9}});
        node.connect(ctx.destination);
        const buf = await ctx.startRendering();
        const b64 = (x) => { let s = ''; const u = new Uint8Array(x.buffer);
            for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode.apply(null, u.subarray(i, i + 0x8000));
            return btoa(s); };
        return [b64(buf.getChannelData(0)), b64(buf.getChannelData(1))];
    }""", [wire_caps(), items, f0, n, rate, context_rate])
    return np.stack([_f32(b) for b in b64], axis=1)


@pytest.mark.parametrize("name", ["pulses", "shapes"])
def test_worklet_renders_the_same_in_an_offline_context(page, name):
    run = session(name)
    f0, n = 24_000, 4 * 48_000
    got = _worklet_render(page, run.wire, f0, n, 1.0, 48000)
    want = run.audio[f0:f0 + n]
    diff = float(np.max(np.abs(got - want)))
    MEASURED[f"worklet {name}"] = diff
    print(f"\nworklet {name}: max audio difference {diff:.3g}")
    assert np.max(np.abs(want)) > 0.005
    assert diff <= AUDIO_TOL


def _running_wire(preset: Preset | None = None) -> dict:
    eng = E.StimulusEngine(preset or Preset())
    eng.start()
    eng.process(512)
    return snapshot_to_wire(eng.history[-1], eng.feel, eng.settings.gentle)


def _refusal(page, w: dict) -> str | None:
    return page.evaluate("([caps, w]) => new M.Stimulus(caps).push(w)", [wire_caps(), w])


def test_snapshots_beyond_the_caps_are_refused_with_a_reason(page):
    good = _running_wire()
    assert _refusal(page, good) is None
    fast = dict(good, speed=[good["start"], 0.0, 5.0, 48000.0, 0])
    assert "hard limit" in _refusal(page, fast)
    loud = dict(good, level=[good["start"], good["level"][1], 10 ** (-3 / 20), 2400.0, 0])
    assert "-3.0 dBFS is beyond the cap" in _refusal(page, loud)
    assert "version" in _refusal(page, dict(good, v=2))
    assert "ramp" in _refusal(page, dict(good, fade="loud"))
    assert "state" in _refusal(page, dict(good, state="warp"))
    assert _refusal(page, None) == "not an object"
    assert "marks" in _refusal(page, {k: v for k, v in good.items() if k != "marks"})


def test_gentle_envelope_is_enforced_by_the_page(page):
    from bls.core.gentle import soften
    g = _running_wire(soften(Preset().with_(gentle=True)))
    assert g["gentle"] is True
    assert _refusal(page, g) is None
    start = g["start"]
    assert "gentle: speed" in _refusal(page, dict(g, speed=[start, 0.0, 0.8, 48000.0, 0]))
    assert "gentle: level" in _refusal(page, dict(g, level=[start, g["level"][1], 10 ** (-20 / 20), 20000.0, 0]))
    assert "gentle: pan depth" in _refusal(page, dict(g, depth=[start, 0.7, 1.0, 20000.0, 0]))
    # the same snapshots without the gentle flag are within the hard caps
    assert _refusal(page, dict(g, gentle=False, speed=[start, 0.0, 0.8, 48000.0, 0])) is None


def test_what_the_therapist_unlocked_in_gentle_mode_plays_and_nothing_beyond_it(page):
    from bls.core.gentle import soften
    from bls.remote.wire import wire_unlocks
    g = _running_wire(soften(Preset().with_(gentle=True)))
    start = g["start"]
    faster = dict(g, speed=[start, 0.0, 0.8, 48000.0, 0])
    louder = dict(g, level=[start, g["level"][1], 10 ** (-20 / 20), 20000.0, 0])
    # unlocked to exactly these values (core.gentle's units): played
    assert _refusal(page, dict(faster, unlocks=wire_unlocks({"speed": 0.8}))) is None
    assert _refusal(page, dict(louder, unlocks=wire_unlocks({"level": -20.0}))) is None
    # past the unlocked value, or another limit than the one unlocked: refused
    assert "gentle: speed" in _refusal(page, dict(faster, unlocks={"speed": 0.7}))
    assert "gentle: speed" in _refusal(page, dict(faster, unlocks={"level": -20.0}))
    # an unlock never widens a hard cap
    assert "hard limit" in _refusal(page, dict(g, speed=[start, 0.0, 5.0, 48000.0, 0], unlocks={"speed": 5.0}))
    # malformed unlocks are refused whole
    assert "unknown limit" in _refusal(page, dict(faster, unlocks={"warp": 1.0}))
    assert "finite" in _refusal(page, dict(faster, unlocks={"speed": "fast"}))
    # the engine's snapshot carries the session's unlocks only in gentle mode
    assert wire_unlocks({"speed": 0.8, "pan_mode": "alternating", "level": float("nan")}) == {"speed": 0.8}


def test_clock_correction_holds_the_lead_under_drift_and_jitter(page):
    figures = page.evaluate("""() => [300, -300].map((ppm) => T.clockDrift({ppm, seconds: 900, jitterMs: 40}))""")
    for r in figures:
        print(f"\nclock: {r}")
        assert r["settledErrMs"] < 10 and r["maxErrMs"] < 50
        assert r["maxRatePpm"] <= 1000.5  # a rate correction, never a jump
        assert abs(abs(r["finalPpm"]) - 300) < 60  # it learnt the drift
    MEASURED["clock settled lag error ms"] = max(r["settledErrMs"] for r in figures)
    # without the correction the same drift runs the lag away: the bound above does test something
    broken = page.evaluate("() => T.clockDrift({ppm: 300, seconds: 900, jitterMs: 40, kp: 0, ki: 0})")
    assert broken["settledErrMs"] > 100


@pytest.mark.parametrize("name", ["standard", "shapes"])
def test_pixels_agree_with_the_room_painter(page, name):
    """The target's centre in px on a 1920 x 1080 client screen, against bls.ui.stimulus_painter's."""
    painter = pytest.importorskip("bls.ui.stimulus_painter")
    run = session(name)
    _load(page, run)
    frames = np.arange(0, len(run.audio), 211, dtype=np.float64) + 0.5
    eng_samples = []
    starts = np.array([s.start for s in run.snaps])
    for fr in frames:
        snap = run.snaps[max(0, int(np.searchsorted(starts, fr, side="right")) - 1)]
        x, y, s = (float(v[0]) for v in snap.position(np.array([fr])))
        smp = E.FrameSample(fr, x, y, s, 0.0, float(snap.opacity.value(fr)), snap.state, snap.look_at(fr))
        c, r = painter.target_center(smp.look, smp, 1920.0, 1080.0)
        eng_samples.append((c.x(), c.y(), r))
    got = page.evaluate("""(fs) => fs.map((f) => { const s = st.sampleAt(f);
        const c = M.targetCenter(s.look, s, 1920, 1080); return [c.x, c.y, c.radius]; })""", frames.tolist())
    err = float(np.max(np.abs(np.array(got) - np.array(eng_samples))))
    MEASURED[f"px {name}"] = err
    print(f"\n{name}: max difference of the drawn centre and radius {err:.3g} px")
    assert err <= PX_TOL


def test_the_canvas_shows_the_target_where_the_model_says(page):
    run = session("standard")
    _load(page, run)
    px = page.evaluate("""() => {
        const cv = document.createElement('canvas'); cv.width = 640; cv.height = 360;
        const g = cv.getContext('2d');
        const s = st.sampleAt(48000 * 3.3);
        M.drawStimulus(g, s, 640, 360);
        const c = M.targetCenter(s.look, s, 640, 360);
        const at = (x, y) => Array.from(g.getImageData(Math.round(x), Math.round(y), 1, 1).data);
        return {centre: at(c.x, c.y), far: at(c.x > 320 ? 20 : 620, 20), fg: s.look.fg, bg: s.look.bg, alpha: s.alpha};
    }""")
    assert px["alpha"] == 1.0
    assert all(abs(a - round(b * 255)) <= 1 for a, b in zip(px["centre"], px["fg"]))
    assert all(abs(a - round(b * 255)) <= 1 for a, b in zip(px["far"], px["bg"]))


def test_a_44k1_client_renders_the_stimulus_frames_its_clock_maps(page):
    """An AudioContext at 44.1 kHz: the worklet evaluates stimulus frames tau0 + rate * c (rate 48/44.1):
    the tone is the engine's at those (fractional) frames."""
    run = session("standard")
    f0, n, rate = 60_000.0, 44_100, 48_000 / 44_100
    got = _worklet_render(page, run.wire, f0, n, rate, 44100)
    tau = f0 + rate * np.arange(n)
    from bls.core import tone
    want = np.zeros((n, 2))
    starts = np.array([s.start for s in run.snaps])
    idx = np.searchsorted(starts, tau, side="right") - 1
    for i in np.unique(idx):  # soft_sine, no pulses: amp x sin x constant-power gains
        sel = idx == i
        s, fr = run.snaps[i], tau[sel]
        amp = s.fade.value(fr) * s.mute.value(fr) * s.level.value(fr)
        w = tone.waveform(s.tone, s.carrier_phase(fr))
        pan = tone.pan_position(s.position(fr)[2], s.depth.value(fr), s.alternate.value(fr))
        gl, gr = tone.pan_gains(pan)
        want[sel, 0], want[sel, 1] = amp * w * gl, amp * w * gr
    diff = float(np.max(np.abs(got - want)))
    MEASURED["worklet 44.1 kHz"] = diff
    print(f"\n44.1 kHz worklet: max difference {diff:.3g}")
    assert np.max(np.abs(want)) > 0.01
    assert diff <= AUDIO_TOL
