// model.js: the stimulus model of bls (bls/core: ramp, motion, tone, synth, look, checks, engine's
// Snapshot) in JavaScript, evaluating the snapshots the engine publishes (wire v1, bls/remote/wire.py).
// An ES module, no dependencies, no build step; usable in a page and in an AudioWorklet.
//
// Exports
//   SAMPLE_RATE                       48000: stimulus frames per second
//   STATES, PATHS, PROFILES, TONES    the enums of the wire format
//   ramp: { progress(r, f), value(r, f), integral(r, f), done(r, f) }   r = [start, v0, v1, length, smooth]
//   sweep(phase, profile, ease), pathXY(s, path) -> [x, y]
//   panPosition(s, depth, alt, zone), panGains(pan) -> [left, right]     (constant power: L² + R² = 1)
//   waveform(tone, cycles, model), pulseEnvelope(dt, attack_s, length_s)
//   curveValue(points, t), curveValueInto(points, t)                       (core.checks.Curve)
//   toLinear(c), toSrgb(v), luminance(rgb), contrast(a, b), blendLook(a, b, u)
//   glideSeconds(lookA, lookB, baseS, photosafeCaps) -> [seconds, eased]   (core.photosafe)
//   photosafeEven(lookA, lookB, photosafeCaps) -> the shortest even glide within the photosafe limits (s)
//   targetRadii(look, heightPx) -> [solid, half, outer] px; targetCenter(look, sample, w, h) -> {x, y, radius}
//   drawStimulus(ctx2d, sample, widthPx, heightPx): background and target as the room's painter draws them
//   validate(wire, caps) -> null when acceptable, else the reason for refusal (a string)
//   class Stimulus
//     new Stimulus(caps, {historyS = 4, maxItems = 512})   caps: wire_caps() from bls/remote/wire.py
//     push(wire) -> null (taken; or a duplicate, or older than the history kept: ignored)
//                  | reason (refused by validate, or out of order: nothing changes; `refused` counts them)
//     history -> the wire snapshots kept (oldest first), bounded by stimulus time and count
//     snapshotAt(frame) -> the wire snapshot covering frame (or null)
//     newestStart -> start frame of the newest snapshot (or -Infinity)
//     sampleAt(frame) -> {frame, x, y, s, pan, opacity, alpha, state, look, checkPhase} | null
//         x, y normalised (-1..1, y up), opacity the ramp, alpha = opacity x look.vis (what is drawn)
//     renderInto(frame0, left, right, step = 1) -> fills Float32Arrays left/right with the tone for
//         stimulus frames frame0 + i*step (step != 1: the client's clock runs at another rate)
//
// Every formula repeats the Python one (same operations in the same order where it matters), so the
// position agrees to float64 rounding and the audio to float32 rounding (tests/e2e/test_remote_model.py).

export const SAMPLE_RATE = 48000;
export const STATES = ["idle", "running", "paused", "stopping", "gliding", "check"];
export const PATHS = ["horizontal", "vertical", "diagonal_up", "diagonal_down"];
export const PROFILES = ["sinusoidal", "linear"];
export const TONES = ["soft_sine", "warm", "pulse"];
const MOVING = new Set(["running", "paused", "stopping"]);
const PI = Math.PI;

// ------------------------------------------------------------------ ramps (core.ramp.Ramp)

function progress(r, f) {
  const start = r[0], length = r[3];
  if (length <= 0) return f >= start ? 1.0 : 0.0;
  let u = (f - start) / length;
  u = u < 0 ? 0.0 : u > 1 ? 1.0 : u;
  if (r[4]) u = 0.5 - 0.5 * Math.cos(PI * u);
  return u;
}

function value(r, f) {
  if (r[1] === r[2]) return r[2];
  return r[1] + (r[2] - r[1]) * progress(r, f);
}

function integral(r, f) {
  // Ramp.integral (the array form): value x frames from start; v0 before start
  const t = f - r[0], L = r[3], v0 = r[1], v1 = r[2], dv = v1 - v0;
  if (L <= 0) return t < 0 ? v0 * t : v1 * t;
  if (t < 0) return v0 * t;
  if (t <= L) return v0 * t + dv * (t * t) / (2.0 * L);
  const afterConst = v0 * L + dv * L / 2.0;
  return afterConst + v1 * (t - L);
}

function integralScalar(r, f) {
  // Ramp.integral at one frame (its scalar form: dv * t * t grouped left to right)
  const t = f - r[0], L = r[3], v0 = r[1], v1 = r[2], dv = v1 - v0;
  if (L <= 0) return t < 0 ? v0 * t : v1 * t;
  if (t < 0) return v0 * t;
  if (t <= L) return v0 * t + dv * t * t / (2.0 * L);
  return v0 * L + dv * L / 2.0 + v1 * (t - L);
}

function done(r, f) { return f >= r[0] + r[3]; }

export const ramp = { progress, value, integral, done };

// ------------------------------------------------------------------ motion (core.motion)

export function sweep(phase, profile, ease = 0.06) {
  const p = phase - Math.floor(phase);
  if (profile === "sinusoidal") return Math.sin(2.0 * PI * p);
  const K = 1.0 / (0.25 - ease / 2.0), C = K / (2.0 * ease);
  const r = p < 0.5 ? p : p - 0.5;
  const q = Math.min(r, 0.5 - r);
  const d = q - 0.25;
  const mag = q <= 0.25 - ease ? K * q : 1.0 - C * d * d;
  return p < 0.5 ? mag : -mag;
}

export function pathXY(s, path) {
  if (path === "horizontal") return [s, 0.0];
  if (path === "vertical") return [0.0, s];
  if (path === "diagonal_up") return [s, s];
  return [s, -s]; // diagonal_down
}

// ------------------------------------------------------------------ tone (core.tone)

export function panPosition(s, depth, alt, zone = 0.1) {
  if (alt === 0.0) return s * depth;
  let a = s / zone;
  a = a < -1 ? -1.0 : a > 1 ? 1.0 : a;
  return ((a - s) * alt + s) * depth;
}

export function panGains(pan) {
  const p = pan < -1 ? -1.0 : pan > 1 ? 1.0 : pan;
  const th = (p + 1.0) * (PI / 4.0);
  return [Math.cos(th), Math.sin(th)];
}

const DEFAULT_MODEL = { warm_harmonics: [[1, 1.0], [2, 0.22], [3, 0.08]], warm_norm: 0.9460300433479778,
  alternate_zone: 0.1, linear_ease_cycles: 0.06 };

export function waveform(tone, cycles, model = DEFAULT_MODEL) {
  if (tone === "warm") {
    const h = model.warm_harmonics;
    let w = 0.0;
    for (let i = 0; i < h.length; i++) w = w + Math.sin(cycles * (2.0 * PI) * h[i][0]) * h[i][1];
    return w * model.warm_norm;
  }
  return Math.sin(cycles * (2.0 * PI)); // soft_sine, pulse
}

export function pulseEnvelope(dt, attackS, durationS) {
  const attack = Math.max(attackS, 1e-4);
  const decay = Math.max(durationS - attack, 1e-4);
  let u = dt / attack;
  u = u < 0 ? 0.0 : u > 1 ? 1.0 : u;
  let rise = Math.sin(u * (0.5 * PI));
  rise = rise * rise;
  let v = (dt - attack) / decay;
  v = v < 0 ? 0.0 : v > 1 ? 1.0 : v;
  let fall = Math.cos(v * (0.5 * PI));
  fall = fall * fall;
  const env = dt < attack ? rise : fall;
  return dt >= 0 && dt < durationS ? env : 0.0;
}

// ------------------------------------------------------------------ checks (core.checks.Curve)

export function curveValue(pts, t) {
  // Curve.value
  if (t < pts[0][0]) return pts[0][1];
  for (let k = 0; k + 1 < pts.length; k++) {
    const [ta, va] = pts[k], [tb, vb] = pts[k + 1];
    if (t < tb) {
      let u = (t - ta) / (tb - ta);
      u = u < 0 ? 0.0 : u > 1 ? 1.0 : u;
      return va + (vb - va) * (0.5 - 0.5 * Math.cos(PI * u));
    }
  }
  return pts[pts.length - 1][1];
}

export function curveValueInto(pts, t) {
  // Curve.value_into (what the renderer uses)
  if (t < pts[0][0]) return pts[0][1];
  if (t >= pts[pts.length - 1][0]) return pts[pts.length - 1][1];
  let out = pts[pts.length - 1][1];
  for (let k = 0; k + 1 < pts.length; k++) {
    const [ta, va] = pts[k], [tb, vb] = pts[k + 1];
    if (t >= ta && t < tb) {
      if (va === vb) out = va;
      else out = Math.cos((t - ta) * (PI / (tb - ta))) * (-0.5 * (vb - va)) + (va + 0.5 * (vb - va));
    }
  }
  return out;
}

function checkPhaseAt(check, t) {
  if (!check || t < 0 || t >= check.duration_s) return "";
  let name = "";
  for (const [start, what] of check.phases) if (t >= start) name = what;
  return name;
}

// ------------------------------------------------------------------ look (core.look, core.photosafe)

export function toLinear(c) { return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); }

export function toSrgb(v) {
  v = Math.min(1.0, Math.max(0.0, v));
  return v <= 0.0031308 ? v * 12.92 : 1.055 * Math.pow(v, 1 / 2.4) - 0.055;
}

export function luminance(rgb) {
  return 0.2126 * toLinear(rgb[0]) + 0.7152 * toLinear(rgb[1]) + 0.0722 * toLinear(rgb[2]);
}

export function contrast(a, b) {
  const la = luminance(a), lb = luminance(b);
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05);
}

export function blendLook(a, b, u) {
  if (u <= 0.0) return a;
  if (u >= 1.0) return b;
  const mix = (x, y) => x + (y - x) * u;
  const rgb = (p, q) => p.map((x, i) => toSrgb(mix(toLinear(x), toLinear(q[i]))));
  return { d: mix(a.d, b.d), soft: mix(a.soft, b.soft), fg: rgb(a.fg, b.fg), bg: rgb(a.bg, b.bg),
    sweep: mix(a.sweep, b.sweep), vis: mix(a.vis, b.vis) };
}

function areaShare(look, aspect) {
  const r = look.d / 200.0;
  return Math.min(1.0, PI * r * r / aspect) * look.vis;
}

function redness(rgb) { return Math.max(0.0, toLinear(rgb[0]) - toLinear(rgb[1]) - toLinear(rgb[2])); }

/** photosafe's even pace: the shortest glide from look a to b within the limits, in seconds. */
export function photosafeEven(a, b, ps) {
  if (JSON.stringify(a) === JSON.stringify(b)) return 0.0;
  let steepL = 0, steepR = 0, pl = null, pr = null;
  for (let i = 0; i <= ps.steps; i++) {
    const k = blendLook(a, b, i / ps.steps), sh = areaShare(k, ps.aspect);
    const l = luminance(k.bg) * (1.0 - sh) + luminance(k.fg) * sh;
    const r = redness(k.bg) * (1.0 - sh) + redness(k.fg) * sh;
    if (pl !== null) { steepL = Math.max(steepL, Math.abs(l - pl)); steepR = Math.max(steepR, Math.abs(r - pr)); }
    pl = l; pr = r;
  }
  return ps.margin * Math.max(steepL * ps.steps / ps.max_luminance_slew, steepR * ps.steps / ps.max_red_slew);
}

/** photosafe.glide_seconds: how long a look change must take, and whether it may ease. */
export function glideSeconds(a, b, baseS, ps) {
  if (JSON.stringify(a) === JSON.stringify(b)) return [baseS, true];
  const even = photosafeEven(a, b, ps);
  if (ps.ease_peak * even <= baseS) return [baseS, true];
  return [Math.max(baseS, even), false];
}

// ------------------------------------------------------------------ one snapshot (engine.Snapshot)

function phaseAt(w, f) {
  return w.phase0 + (integral(w.speed, f) - integralScalar(w.speed, w.start)) / SAMPLE_RATE;
}

function carrierPhase(w, f) {
  const c = w.carrier_phase0 + (integral(w.carrier, f) - integralScalar(w.carrier, w.start)) / SAMPLE_RATE;
  return c - Math.floor(c);
}

function position(w, f, ease) {
  // Snapshot.position
  if (w.state === "idle") return [0.0, 0.0, 0.0];
  if (w.state === "check") {
    const t = (f - w.check.start) / SAMPLE_RATE;
    return [0.0, 0.0, curveValue(w.check.pan, t)];
  }
  if (w.state === "gliding") {
    const keep = 1.0 - progress(w.glide, f);
    const g = w.glide_from;
    return [g[0] * keep, g[1] * keep, g[2] * keep];
  }
  const ph = phaseAt(w, f);
  const s = sweep(ph, w.profile, ease);
  const [x, y] = pathXY(s, w.path);
  if (done(w.shape_mix, f)) return [x, y, s];
  const m = value(w.shape_mix, f);
  const s0 = sweep(ph, w.prev_profile, ease);
  const [x0, y0] = pathXY(s0, w.prev_path);
  return [x0 + m * (x - x0), y0 + m * (y - y0), s0 + m * (s - s0)];
}

function along(w, f, ease) {
  // Snapshot.along_into at one frame: the s the pan follows (no allocation: the audio thread calls it)
  if (w.state === "idle") return 0.0;
  if (w.state === "check") return curveValueInto(w.check.pan, (f - w.check.start) / SAMPLE_RATE);
  if (w.state === "gliding") return w.glide_from[2] * (1.0 - progress(w.glide, f));
  const ph = phaseAt(w, f);
  const s = sweep(ph, w.profile, ease);
  if (done(w.shape_mix, f)) return s;
  const s0 = sweep(ph, w.prev_profile, ease);
  return (s - s0) * value(w.shape_mix, f) + s0;
}

function lookAt(w, f) {
  if (done(w.look_mix, f)) return w.look_to;
  return blendLook(w.look_from, w.look_to, value(w.look_mix, f));
}

// ------------------------------------------------------------------ drawing (ui.stimulus_painter, Qt-free)

/** [solid, half-brightness, outer] radius in px: the soft edge (softness x the visible radius) spreads
 * evenly inside and outside the half-brightness radius. */
export function targetRadii(look, height) {
  const half = look.d / 100.0 * height / 2.0;
  const width = Math.max(0.0, Math.min(1.0, look.soft)) * half;
  return [half - width / 2.0, half, half + width / 2.0];
}

/** Where the target's centre is drawn (px, y down) and its outer radius: the whole soft edge stays on
 * the screen at the ends of the sweep. `sample` is what Stimulus.sampleAt gives. */
export function targetCenter(look, sample, width, height) {
  const radius = targetRadii(look, height)[2];
  const halfX = Math.max(0.0, Math.min(look.sweep * width / 2.0, width / 2.0 - radius));
  const halfY = Math.max(0.0, Math.min(look.sweep * height / 2.0, height / 2.0 - radius));
  return { x: width / 2.0 + sample.x * halfX, y: height / 2.0 - sample.y * halfY, radius };
}

const css = (rgb, a = 1) => `rgba(${rgb.map((c) => Math.round(Math.min(1, Math.max(0, c)) * 255)).join(",")},${a})`;

/** Background, then the target (a disc with a raised-cosine soft edge) for `sample` on a canvas 2D
 * context of width x height px (ui.stimulus_painter.paint_stimulus, without the badge and words). */
export function drawStimulus(g, sample, width, height) {
  const look = sample.look;
  g.fillStyle = css(look.bg);
  g.fillRect(0, 0, width, height);
  const opacity = Math.max(0, Math.min(1, sample.alpha));
  if (opacity <= 0.001) return;
  const { x, y } = targetCenter(look, sample, width, height);
  const [solid, , radius] = targetRadii(look, height);
  if (radius <= 0.5) return;
  const inner = Math.max(0.0, solid / radius), soft = 1.0 - inner;
  if (soft <= 0.001) {
    g.fillStyle = css(look.fg, opacity);
  } else {
    const grad = g.createRadialGradient(x, y, 0, x, y, radius);
    grad.addColorStop(0, css(look.fg, opacity));
    grad.addColorStop(inner, css(look.fg, opacity));
    for (let i = 1; i < 6; i++) {
      const u = i / 6.0;
      grad.addColorStop(inner + soft * u, css(look.fg, opacity * (0.5 + 0.5 * Math.cos(PI * u))));
    }
    grad.addColorStop(1, css(look.fg, 0));
    g.fillStyle = grad;
  }
  g.beginPath();
  g.arc(x, y, radius, 0, 2 * PI);
  g.fill();
}

// ------------------------------------------------------------------ validation

const RAMPS = ["speed", "shape_mix", "glide", "opacity", "fade", "level", "mute", "depth", "alternate", "carrier",
  "tone_mix", "look_mix", "accent"];
const UNIT_RAMPS = ["shape_mix", "glide", "opacity", "fade", "mute", "depth", "alternate", "tone_mix", "look_mix"];
const AUDIBLE = ["fade", "level", "mute", "depth", "alternate", "carrier", "tone_mix", "accent"];
const EPS = 1e-9;

const isNum = (x) => typeof x === "number" && Number.isFinite(x);

function badRamp(r) {
  if (!Array.isArray(r) || r.length !== 5) return "not a ramp [start, v0, v1, length, smooth]";
  if (!r.slice(0, 4).every(isNum)) return "a ramp value is not a finite number";
  if (r[3] < 0) return "a ramp of negative length";
  if (r[4] !== 0 && r[4] !== 1) return "a ramp's smooth flag is not 0 or 1";
  if (Math.abs(r[0]) > 2 ** 52 || Math.abs(r[3]) > 2 ** 52) return "a ramp beyond the frame range";
  return null;
}

function badLook(k) {
  if (!k || typeof k !== "object") return "not a look";
  for (const key of ["d", "soft", "sweep", "vis"]) if (!isNum(k[key])) return `look.${key} is not a finite number`;
  for (const key of ["fg", "bg"]) {
    if (!Array.isArray(k[key]) || k[key].length !== 3 || !k[key].every((c) => isNum(c) && c >= 0 && c <= 1))
      return `look.${key} is not an sRGB colour`;
  }
  if (k.d <= 0 || k.d > 100) return "look.d (target diameter) out of range";
  if (k.soft < 0 || k.soft > 1 || k.sweep < 0 || k.sweep > 1 || k.vis < 0 || k.vis > 1) return "a look share out of 0..1";
  return null;
}

function badCurve(c, lo, hi) {
  if (!Array.isArray(c) || c.length < 1 || c.length > 64) return "not a curve";
  let prev = -Infinity;
  for (const p of c) {
    if (!Array.isArray(p) || p.length !== 2 || !isNum(p[0]) || !isNum(p[1])) return "a curve point is not [t, value]";
    if (p[0] < prev) return "a curve's points are not in time order";
    if (p[1] < lo || p[1] > hi) return "a curve value out of range";
    prev = p[0];
  }
  return null;
}

/** Why `w` (a wire snapshot) must not be played under `caps` (wire_caps()), or null when it may. */
/** The gentle limits a therapist can unlock (bls/remote/wire.py UNLOCKABLE). */
export const UNLOCKABLE = ["speed", "level", "pan_depth", "carrier", "target_size", "target_edge", "background",
  "contrast"];

export function validate(w, caps) {
  if (!w || typeof w !== "object" || Array.isArray(w)) return "not an object";
  if (w.v !== 1) return `wire version ${JSON.stringify(w.v)} is not 1`;
  if (!Number.isSafeInteger(w.start)) return "start is not an integer frame";
  if (!STATES.includes(w.state)) return `unknown state ${JSON.stringify(w.state)}`;
  if (typeof w.gentle !== "boolean") return "gentle is not true or false";
  for (const key of ["phase0", "carrier_phase0"]) if (!isNum(w[key])) return `${key} is not a finite number`;
  for (const key of RAMPS) { const b = badRamp(w[key]); if (b) return `${key}: ${b}`; }
  for (const key of ["path", "prev_path"]) if (!PATHS.includes(w[key])) return `unknown ${key} ${JSON.stringify(w[key])}`;
  for (const key of ["profile", "prev_profile"]) if (!PROFILES.includes(w[key])) return `unknown ${key} ${JSON.stringify(w[key])}`;
  for (const key of ["tone", "prev_tone"]) if (!TONES.includes(w[key])) return `unknown ${key} ${JSON.stringify(w[key])}`;
  if (!Array.isArray(w.glide_from) || w.glide_from.length !== 3 || !w.glide_from.every((v) => isNum(v) && Math.abs(v) <= 1))
    return "glide_from is not [x, y, s] within -1..1";
  for (const key of ["look_from", "look_to"]) { const b = badLook(w[key]); if (b) return `${key}: ${b}`; }
  if (!Array.isArray(w.marks) || w.marks.length !== 4 || !w.marks.every((v) => isNum(v) && v > 0 && v <= 5))
    return "marks is not [pulse attack, pulse length, accent attack, accent length] in seconds";
  if (w.check !== null) {
    const c = w.check;
    if (!c || typeof c !== "object") return "check is not a program";
    if (typeof c.kind !== "string" || c.kind.length > 32) return "check: kind is not a name";
    if (!Number.isSafeInteger(c.start) || !isNum(c.duration_s) || c.duration_s <= 0 || c.duration_s > 600)
      return "check: start or duration out of range";
    const b = badCurve(c.pan, -1, 1) || badCurve(c.envelope, 0, 1);
    if (b) return `check: ${b}`;
    if (!Array.isArray(c.phases) || c.phases.length > 16 ||
        !c.phases.every((p) => Array.isArray(p) && isNum(p[0]) && typeof p[1] === "string" && p[1].length <= 32))
      return "check: phases malformed";
  }
  if (w.state === "check" && w.check === null) return "state check without a check program";
  const unlocks = w.unlocks === undefined ? {} : w.unlocks;
  if (!unlocks || typeof unlocks !== "object" || Array.isArray(unlocks)) return "unlocks is not an object";
  for (const [k, v] of Object.entries(unlocks)) {
    if (!UNLOCKABLE.includes(k)) return `unlocks: unknown limit ${JSON.stringify(k).slice(0, 40)}`;
    if (!isNum(v)) return `unlocks.${k} is not a finite number`;
  }
  const hard = caps.hard, sr = caps.sample_rate;
  // the hard caps
  const sp = w.speed;
  if (sp[4] !== 0) return "speed: the phase needs a linear speed ramp";
  if (Math.min(sp[1], sp[2]) < 0 || Math.max(sp[1], sp[2]) > hard.speed_max + EPS)
    return `speed ${Math.max(sp[1], sp[2])} cycles/s is beyond the hard limit of ${hard.speed_max} cycles/s`;
  const lv = w.level;
  if (Math.min(lv[1], lv[2]) < 0 || Math.max(lv[1], lv[2]) > hard.level_cap * (1 + EPS)) {
    const db = 20 * Math.log10(Math.max(lv[1], lv[2]));
    return `level ${db.toFixed(1)} dBFS is beyond the cap of ${hard.level_cap_dbfs} dBFS`;
  }
  const cr = w.carrier;
  if (Math.min(cr[1], cr[2]) < hard.carrier_min_hz - EPS || Math.max(cr[1], cr[2]) > hard.carrier_max_hz + EPS)
    return `carrier outside ${hard.carrier_min_hz}..${hard.carrier_max_hz} Hz`;
  for (const key of UNIT_RAMPS) {
    const r = w[key];
    if (Math.min(r[1], r[2]) < 0 || Math.max(r[1], r[2]) > 1) return `${key} outside 0..1`;
  }
  const accentMax = 10 ** (hard.accent_db_max / 20) - 1;
  if (Math.min(w.accent[1], w.accent[2]) < 0 || Math.max(w.accent[1], w.accent[2]) > accentMax + EPS)
    return `accent beyond ${hard.accent_db_max} dB`;
  const minRamp = hard.min_ramp_s * sr;
  for (const key of AUDIBLE) {
    const r = w[key];
    if (r[1] !== r[2] && r[3] < minRamp - EPS) return `${key} changes in under ${hard.min_ramp_s * 1000} ms (a click)`;
  }
  // photosafe: the look and the target's appearing glide no faster than the limits allow (the engine
  // takes photosafe.glide_seconds: at least `even` seconds at an even pace, ease_peak x even eased)
  const ps = hard.photosafe;
  const slowEnough = (r, a, b) => {
    const even = photosafeEven(a, b, ps);
    const need = (r[4] ? ps.ease_peak : 1.0) * even * Math.abs(r[2] - r[1]);
    return r[3] / sr >= need * (1 - 1e-6);
  };
  if (w.look_mix[1] !== w.look_mix[2] && !slowEnough(w.look_mix, w.look_from, w.look_to))
    return "look_mix changes the screen faster than the photosensitivity limits";
  if (w.opacity[1] !== w.opacity[2] && !slowEnough(w.opacity, { ...w.look_to, vis: 0.0 }, w.look_to))
    return "opacity makes the target appear or go faster than the photosensitivity limits";
  // the gentle envelope
  if (w.gentle) {
    // the envelope, widened to what the therapist unlocked (the hard caps above still hold)
    const u = unlocks, g0 = caps.gentle, soften = g0.soften_s * sr;
    const up = (limit, value) => (value === undefined ? limit : Math.max(limit, value));
    const down = (limit, value) => (value === undefined ? limit : Math.min(limit, value));
    const g = {
      ...g0,
      speed_max: up(g0.speed_max, u.speed),
      level_max: up(g0.level_max, u.level === undefined ? undefined : 10 ** (u.level / 20)),
      pan_depth_max: up(g0.pan_depth_max, u.pan_depth === undefined ? undefined : u.pan_depth / 100),
      carrier_max_hz: up(g0.carrier_max_hz, u.carrier),
      diameter_min_pct: down(g0.diameter_min_pct, u.target_size),
      softness_min: down(g0.softness_min, u.target_edge === undefined ? undefined : u.target_edge / 100),
      background_luminance_max: up(g0.background_luminance_max, u.background),
      contrast_max: up(g0.contrast_max, u.contrast),
    };
    const within = (r, max, what, unit, show = (v) => v) => {
      if (r[2] > max + EPS) return `gentle: ${what} ${show(r[2])}${unit} is beyond the gentle limit of ${show(max)}${unit}`;
      if (r[1] > max + EPS && r[3] > soften + EPS) return `gentle: ${what} glides down from beyond the limit too slowly`;
      return null;
    };
    const b = within(w.speed, g.speed_max, "speed", " cycles/s") ||
      within(w.level, g.level_max, "level", " dBFS", (v) => (20 * Math.log10(v)).toFixed(1)) ||
      within(w.depth, g.pan_depth_max, "pan depth", "") || within(w.carrier, g.carrier_max_hz, "carrier", " Hz");
    if (b) return b;
    for (const key of ["look_to"]) {
      const k = w[key];
      if (k.d < g.diameter_min_pct - EPS) return `gentle: target diameter ${k.d}% below ${g.diameter_min_pct}%`;
      if (k.soft < g.softness_min - EPS) return `gentle: target softness below ${g.softness_min}`;
      if (k.vis > 0 && luminance(k.bg) > g.background_luminance_max + 1e-6) return "gentle: background too bright";
      if (k.vis > 0 && contrast(k.fg, k.bg) > g.contrast_max * (1 + 1e-6)) return "gentle: contrast too high";
    }
  }
  return null;
}

// ------------------------------------------------------------------ the stimulus: a history of snapshots

export class Stimulus {
  constructor(caps, { historyS = 4, maxItems = 512 } = {}) {
    if (!caps || caps.v !== 1 || caps.sample_rate !== SAMPLE_RATE) throw new Error("caps: wire_caps() v1 at 48 kHz");
    this.caps = caps;
    this.model = caps.model;
    this.historyFrames = historyS * SAMPLE_RATE;
    this.maxItems = maxItems;
    this.history = [];
    this._keys = new Set();
    this._marks = null; // the end-point tracker: {next, k, cross, shape}
    this.refused = 0;
  }

  get newestStart() { return this.history.length ? this.history[this.history.length - 1].start : -Infinity; }

  push(w) {
    const reason = validate(w, this.caps);
    if (reason) { this.refused++; return reason; }
    const key = JSON.stringify(w);
    if (this._keys.has(key)) return null; // a snapshot already known (the history is sent again)
    if (this.history.length && w.start < this.history[0].start) return null; // older than the history kept: stale
    if (w.start < this.newestStart) { this.refused++; return `out of order: frame ${w.start} before ${this.newestStart}`; }
    this.history.push(w);
    this._keys.add(key);
    // bounded by stimulus time (as engine.history) and by count
    const keepFrom = w.start - this.historyFrames;
    let i = 0;
    while (i + 1 < this.history.length && (this.history[i + 1].start <= keepFrom || this.history.length - i > this.maxItems)) i++;
    if (i) {
      for (const old of this.history.slice(0, i)) this._keys.delete(JSON.stringify(old));
      this.history = this.history.slice(i);
    }
    // the end-point tracker is rebuilt only if it already took frames this snapshot now plays
    if (this._marks && w.start < this._marks.next) this._marks = null;
    return null;
  }

  _index(frame) {
    for (let i = this.history.length - 1; i >= 0; i--) if (this.history[i].start <= frame) return i;
    return this.history.length ? 0 : -1;
  }

  snapshotAt(frame) {
    const i = this._index(frame);
    return i < 0 ? null : this.history[i];
  }

  sampleAt(frame) {
    const i = this._index(frame);
    if (i < 0) return null;
    const w = this.history[i], ease = this.model.linear_ease_cycles;
    const [x, y, s] = position(w, frame, ease);
    const pan = panPosition(s, value(w.depth, frame), value(w.alternate, frame), this.model.alternate_zone);
    const look = lookAt(w, frame), opacity = value(w.opacity, frame);
    const checkPhase = w.check ? checkPhaseAt(w.check, (frame - w.check.start) / SAMPLE_RATE) : "";
    return { frame, x, y, s, pan, opacity, alpha: opacity * look.vis, state: w.state, look, checkPhase };
  }

  // the end-point tracker (engine._track_pulses): the end count k, the frame of the latest mark and
  // the shape it started with, advanced one frame at a time
  _advanceMarks(m, i, f) {
    const w = this.history[i];
    const moving = MOVING.has(w.state);
    if (!moving) return;
    if (f === w.start && i > 0 && !MOVING.has(this.history[i - 1].state)) { m.k = -1; m.cross = -1e18; } // a set starts
    const pulseOn = w.tone === "pulse" || w.prev_tone === "pulse";
    const accentOn = w.accent[1] !== 0 || w.accent[2] !== 0;
    const marked = (pulseOn || accentOn) && w.state !== "check";
    const k = Math.floor((phaseAt(w, f) - 0.25) / 0.5);
    if (marked && k > m.k) { m.cross = f; m.shape = w.marks; }
    m.k = k;
  }

  _marksAt(frame) {
    // the tracker with every integer frame before `frame` taken: continued, or rebuilt over the history
    const m = this._marks, f0 = Math.floor(frame);
    if (m && m.next <= f0 + 1 && m.next >= f0 - 4800) return m;
    const fresh = { next: f0, k: -1, cross: -1e18, shape: [0.006, 0.12, 0.03, 0.11] };
    if (!this.history.length) return fresh;
    let f = Math.max(this.history[0].start, f0 - Math.ceil(this.historyFrames / 2)) - 1;
    const w0 = this.history[this._index(f)];
    if (MOVING.has(w0.state)) fresh.k = Math.floor((phaseAt(w0, f) - 0.25) / 0.5);
    fresh.next = f + 1;
    this._catchUp(fresh, f0 - 1);
    return fresh;
  }

  _catchUp(m, frame) {
    // take every integer frame up to `frame`
    while (m.next <= frame) { this._advanceMarks(m, this._index(m.next), m.next); m.next++; }
  }

  renderInto(frame0, left, right, step = 1) {
    const n = left.length;
    if (!this.history.length) { left.fill(0); right.fill(0); return; }
    const m = this._marksAt(frame0);
    this._marks = m;
    const cap = this.caps.hard.level_cap, model = this.model, zone = model.alternate_zone, ease = model.linear_ease_cycles;
    let finite = true;
    for (let j = 0; j < n; j++) {
      const f = frame0 + j * step;
      const i = this._index(f);
      const w = this.history[i];
      this._catchUp(m, f);
      const pulseOn = w.tone === "pulse" || w.prev_tone === "pulse";
      const accentOn = w.accent[1] !== 0 || w.accent[2] !== 0;
      const marked = (pulseOn || accentOn) && w.state !== "check";
      let gain = value(w.fade, f);
      gain = gain * value(w.mute, f);
      if (gain === 0) { left[j] = 0; right[j] = 0; continue; }
      let level = value(w.level, f);
      const dt = (f - m.cross) / SAMPLE_RATE;
      const env = marked && pulseOn ? pulseEnvelope(dt, m.shape[0], m.shape[1]) : null;
      if (marked && accentOn) {
        let swell = value(w.accent, f) * level;
        swell = Math.min(swell, cap - level);
        swell = Math.max(swell, 0.0);
        swell = swell * pulseEnvelope(dt, m.shape[2], m.shape[3]);
        level = level + swell;
      }
      let amp = gain * level;
      if (w.check) amp = amp * curveValueInto(w.check.envelope, (f - w.check.start) / SAMPLE_RATE);
      const cph = carrierPhase(w, f);
      let wv = waveform(w.tone, cph, model);
      if (w.tone === "pulse" && env !== null) wv = wv * env;
      if (!done(w.tone_mix, f)) {
        const mix = value(w.tone_mix, f);
        let w0 = waveform(w.prev_tone, cph, model);
        if (w.prev_tone === "pulse" && env !== null) w0 = w0 * env;
        w0 = w0 * (1.0 - mix);
        wv = wv * mix + w0;
      }
      const s = along(w, f, ease);
      const depth = value(w.depth, f);
      const alt = w.alternate[1] || w.alternate[2] ? value(w.alternate, f) : 0.0;
      let pan = panPosition(s, depth, alt, zone);
      pan = pan < -1 ? -1.0 : pan > 1 ? 1.0 : pan;
      const th = (pan + 1.0) * (PI / 4.0), gl = Math.cos(th), gr = Math.sin(th); // panGains
      const sig = amp * wv;
      let l = Math.fround(sig * gl), r = Math.fround(sig * gr);
      l = l > cap ? cap : l < -cap ? -cap : l;
      r = r > cap ? cap : r < -cap ? -cap : r;
      left[j] = l; right[j] = r;
      if (!Number.isFinite(l) || !Number.isFinite(r)) finite = false;
    }
    if (!finite) { left.fill(0); right.fill(0); } // NaN never reaches the ear
  }
}
