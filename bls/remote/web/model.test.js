// model.test.js: the JavaScript model's own unit tests, run in the browser (tests/e2e/test_remote_model.py).
// Exports run(caps) -> [{name, ok, detail}]; clockDrift(opts) -> the simulated lag figures.

import { ramp, panGains, panPosition, pulseEnvelope, sweep, validate, Stimulus, SAMPLE_RATE } from "./model.js";
import { StimulusClock, heardContextTime, heardStimulusFrame } from "./clock.js";

function approx(a, b, tol) { return Math.abs(a - b) <= tol; }

// a valid running snapshot, to break one field at a time
export function sample(caps) {
  const look = { d: 5, soft: 0.15, fg: [0.9, 0.89, 0.85], bg: [0.11, 0.13, 0.15], sweep: 0.85, vis: 1 };
  return { v: 1, start: 0, state: "running", gentle: false, phase0: 0, speed: [0, 0, 1, 48000, 0], path: "horizontal",
    profile: "sinusoidal", prev_path: "horizontal", prev_profile: "sinusoidal", shape_mix: [0, 1, 1, 0, 0],
    glide: [0, 1, 1, 0, 0], glide_from: [0, 0, 0], opacity: [0, 0, 1, 19200, 1], fade: [0, 0, 1, 61064, 1],
    level: [0, 0.063, 0.063, 0, 0], mute: [0, 1, 1, 0, 0], depth: [0, 1, 1, 0, 0], alternate: [0, 0, 0, 0, 0],
    carrier: [0, 440, 440, 0, 0], carrier_phase0: 0, tone: "soft_sine", prev_tone: "soft_sine", tone_mix: [0, 1, 1, 0, 0],
    look_from: look, look_to: look, look_mix: [0, 1, 1, 0, 0], accent: [0, 0, 0, 0, 0], marks: [0.006, 0.12, 0.03, 0.11],
    check: null };
}

export function clockDrift({ ppm = 300, seconds = 900, jitterMs = 40, lossy = true, kp, ki, seed = 7 } = {}) {
  // the therapist's clock runs `ppm` fast against the client's; messages every 50 ms arrive 5..5+jitter ms late
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const ctxRate = 48000, lead = 0.15 * 48000;
  const opts = { contextRate: ctxRate, leadFrames: lead };
  if (kp !== undefined) opts.kp = kp;
  if (ki !== undefined) opts.ki = ki;
  const clock = new StimulusClock(opts);
  const k = 1 + ppm * 1e-6;
  let maxErr = 0, maxStep = 0, prevTau = null, settledErr = 0;
  for (let t = 0; t < seconds; t += 0.05) {
    if (lossy && rnd() < 0.05) continue; // a lost message
    const delay = 0.005 + rnd() * jitterMs / 1000;
    const c = (t + delay) * ctxRate; // when it arrives (client clock)
    clock.observe(c, t * 48000 * k); // the therapist's frame when it was sent
    const cNow = c;
    const tau = clock.tauAt(cNow);
    // the true lag: the therapist's frame now minus tau, against the lead
    const err = (t + delay) * 48000 * k - tau - lead;
    maxErr = Math.max(maxErr, Math.abs(err));
    if (t > 120) settledErr = Math.max(settledErr, Math.abs(err));
    if (prevTau !== null) maxStep = Math.max(maxStep, Math.abs((tau - prevTau.tau) / (cNow - prevTau.c) - 1) * 1e6);
    prevTau = { tau, c: cNow };
  }
  return { maxErrMs: maxErr / 48, settledErrMs: settledErr / 48, maxRatePpm: maxStep, finalPpm: clock.ppm };
}

export function run(caps) {
  const results = [];
  const test = (name, fn) => {
    try { const detail = fn(); results.push({ name, ok: detail === true || detail === undefined, detail: detail === true ? "" : detail }); }
    catch (e) { results.push({ name, ok: false, detail: String(e && e.stack || e) }); }
  };
  test("ramp: linear and raised cosine ends and middle", () => {
    const r = [100, 2, 4, 200, 0];
    if (ramp.value(r, 50) !== 2 || ramp.value(r, 300) !== 4 || ramp.value(r, 200) !== 3) return "linear";
    const c = [100, 2, 4, 200, 1];
    if (!approx(ramp.value(c, 200), 3, 1e-15) || ramp.value(c, 400) !== 4) return "smooth";
    if (!approx(ramp.value(c, 101) - 2, 2 * (0.5 - 0.5 * Math.cos(Math.PI / 200)), 1e-15)) return "smooth shape";
  });
  test("ramp: the integral is the area under the value (phase)", () => {
    const r = [1000, 0.5, 1.5, 4800, 0];
    let sum = 0;
    for (let f = 0; f < 10000; f++) sum += ramp.value(r, f + 0.5);
    const exact = ramp.integral(r, 10000) - ramp.integral(r, 0);
    return approx(sum, exact, 1e-6) ? true : `sum ${sum} integral ${exact}`;
  });
  test("pan law: L² + R² = 1 everywhere, hard left and right", () => {
    for (let p = -1.5; p <= 1.5; p += 0.001) {
      const [l, r] = panGains(p);
      if (!approx(l * l + r * r, 1, 1e-15)) return `pan ${p}: ${l * l + r * r}`;
    }
    const [l0, r0] = panGains(-1), [l1, r1] = panGains(1);
    if (!approx(r0, 0, 1e-15) || !approx(l1, 0, 1e-15) || l0 !== 1) return "ends";
    const [lc, rc] = panGains(0);
    return approx(lc, Math.SQRT1_2, 1e-15) && approx(rc, Math.SQRT1_2, 1e-15) ? true : "centre";
  });
  test("alternating pan: full side outside the zone, depth scales", () => {
    if (panPosition(0.5, 0.8, 1.0, 0.1) !== 0.8 || panPosition(-0.05, 1, 1, 0.1) !== -0.5) return "alternating";
    return panPosition(0.5, 0.8, 0, 0.1) === 0.4 ? true : "continuous";
  });
  test("sweep: ends at phase 0.25 and 0.75, linear profile eased", () => {
    if (sweep(0.25, "sinusoidal") !== 1 || sweep(0.75, "sinusoidal") !== -1) return "sinusoidal";
    if (!approx(sweep(0.25, "linear"), 1, 1e-15) || !approx(sweep(0.1, "linear"), 0.1 / (0.25 - 0.03), 1e-12)) return "linear";
  });
  test("pulse envelope: zero at both ends, peak 1 after the attack", () => {
    return pulseEnvelope(-0.001, 0.006, 0.12) === 0 && pulseEnvelope(0.006, 0.006, 0.12) === 1 &&
      pulseEnvelope(0.12, 0.006, 0.12) === 0 && pulseEnvelope(0, 0.006, 0.12) === 0 ? true : "envelope";
  });
  test("validate: the sample snapshot passes", () => validate(sample(caps), caps) || true);
  const refuse = (name, change, want) => test(`validate refuses: ${name}`, () => {
    const w = sample(caps);
    change(w);
    const why = validate(w, caps);
    if (!why) return "accepted";
    return why.includes(want) ? true : `reason "${why}" lacks "${want}"`;
  });
  refuse("5 cycles/s", (w) => { w.speed = [0, 0, 5, 48000, 0]; }, "hard limit");
  refuse("-3 dBFS", (w) => { w.level = [0, 0.063, 10 ** (-3 / 20), 2400, 0]; }, "cap");
  refuse("a level step (click)", (w) => { w.level = [0, 0.01, 0.06, 10, 0]; }, "click");
  refuse("wrong version", (w) => { w.v = 2; }, "version");
  refuse("NaN phase", (w) => { w.phase0 = NaN; }, "finite");
  refuse("unknown tone", (w) => { w.tone = "siren"; }, "tone");
  refuse("a malformed ramp", (w) => { w.fade = [0, 1]; }, "ramp");
  refuse("carrier 5 kHz", (w) => { w.carrier = [0, 440, 5000, 4000, 0]; }, "carrier");
  refuse("a flash of the background", (w) => {
    w.look_to = { ...w.look_from, bg: [1, 1, 1] }; w.look_mix = [0, 0, 1, 480, 1];
  }, "photosensitivity");
  refuse("a target popping in", (w) => { w.opacity = [0, 0, 1, 240, 1]; w.look_to = { ...w.look_to, fg: [1, 1, 1], d: 30 };
    w.look_from = w.look_to; }, "photosensitivity");
  refuse("gentle at 0.8 cycles/s", (w) => {
    w.gentle = true; w.speed = [0, 0, 0.8, 48000, 0];
    w.level = [0, 0.03, 0.03, 0, 0]; w.depth = [0, 0.7, 0.7, 0, 0]; w.carrier = [0, 200, 200, 0, 0];
  }, "gentle");
  refuse("gentle at -12 dBFS", (w) => {
    w.gentle = true; w.speed = [0, 0, 0.35, 48000, 0]; w.level = [0, 0.25, 0.25, 0, 0];
  }, "gentle: level");
  refuse("not an object", (w) => { for (const k of Object.keys(w)) delete w[k]; w.v = 1; }, "integer");
  test("Stimulus.push refuses with the reason and keeps nothing", () => {
    const st = new Stimulus(caps);
    const w = sample(caps); w.speed = [0, 0, 5, 48000, 0];
    const why = st.push(w);
    return why && st.history.length === 0 && st.refused === 1 ? true : `push gave ${why}`;
  });
  test("Stimulus history is bounded", () => {
    const st = new Stimulus(caps, { historyS: 1 });
    for (let i = 0; i < 100; i++) { const w = sample(caps); w.start = i * 4800; w.phase0 = i / 10; st.push(w); }
    return st.history.length <= 12 ? true : `${st.history.length} kept`;
  });
  test("Stimulus: a history sent again is taken once; out of order refused, stale ignored", () => {
    const st = new Stimulus(caps, { historyS: 1 });
    const at = (start) => ({ ...sample(caps), start, phase0: start / 48000 });
    if (st.push(at(0)) || st.push(at(96000)) || st.push(at(0)) !== null || st.history.length !== 2) return "resent";
    const why = st.push(at(50000));
    if (!why || !why.includes("out of order") || st.history.length !== 2) return `out of order: ${why}`;
    if (st.push(at(200000)) || st.history.length !== 2 || st.history[0].start !== 96000) return "bounded";
    return st.push(at(0)) === null && st.history.length === 2 ? true : "stale";
  });
  test("clock: 300 ppm drift and 40 ms jitter keep the lag within 10 ms, the rate within 1000 ppm", () => {
    const r = clockDrift({ ppm: 300 });
    return r.settledErrMs < 10 && r.maxErrMs < 50 && r.maxRatePpm <= 1000.5 ? true : JSON.stringify(r);
  });
  test("clock: the picture's frame is the one heard", () => {
    const clock = new StimulusClock({ contextRate: 48000, leadFrames: 0 });
    clock.observe(0, 1000);
    const ts = { contextTime: 1.0, performanceTime: 5000 };
    if (heardContextTime(ts, 5100, 0.02) !== 1.08) return "heardContextTime";
    const f = heardStimulusFrame(clock, ts, 5100 - 16, 16, 48000, 0);
    return approx(f, 1000 + 1.1 * 48000, 1e-6) ? true : `frame ${f}`;
  });
  return results;
}
