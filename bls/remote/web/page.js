// bls remote client page: connects to /ws/<token>, validates every message (the same rules as
// bls/remote/protocol.py), feeds the stimulus model (model.js) and the tone worklet (worklet.js),
// answers pings and reports its status. No third-party code; loaded under a strict CSP.
export const SCHEMA = 1;
export const MAX_BYTES = 64 * 1024;
const SAMPLE_RATE = 48000;
const MAX_ITEMS = 64;
const STR_MAX = 200;
const SET_STATES = new Set(["running", "paused", "stopping", "gliding"]);
// what plays: a new lead waits until none of these (the one jump of the clock, unseen and unheard)
const BUSY_STATES = new Set([...SET_STATES, "check"]);

const FIELDS = {
  welcome: { state: "obj", caps: "obj", lead_ms: "num", sample_rate: "int" },
  snapshots: { items: "list", now_frame: "int", sent_ms: "num" },
  ping: { id: "int", sent_ms: "num" },
  lead: { lead_ms: "num" },
  bye: { reason: "str" },
  error: { problems: "list" },
  hello: { screen: "obj", audio: "str" },
  pong: { id: "int", sent_ms: "num" },
  status: { sound: "bool", av_offset_ms: "num?", dropped_frames: "int", frame: "num?" },
};
const FROM = { server: ["welcome", "snapshots", "ping", "lead", "bye", "error"], client: ["hello", "pong", "status"] };
const isNum = (v) => typeof v === "number" && Number.isFinite(v);
const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const KIND = {
  num: isNum, "num?": (v) => v === null || isNum(v), int: (v) => Number.isInteger(v) && v >= 0,
  bool: (v) => typeof v === "boolean", str: (v) => typeof v === "string" && v.length <= STR_MAX,
  obj: isObj, list: Array.isArray,
};

/** Every problem with a decoded message from `sender` ("server" or "client"); [] when valid. */
export function validate(msg, sender = "server") {
  if (!isObj(msg)) return ["a message is a JSON object"];
  const problems = [];
  if (msg.v !== SCHEMA) problems.push(`v: ${JSON.stringify(msg.v)} is not schema version ${SCHEMA}`);
  const t = msg.type;
  if (!FROM[sender].includes(t)) {
    problems.push(`type: ${JSON.stringify(t)} is not one of: ${FROM[sender].join(", ")} (from the ${sender})`);
    return problems;
  }
  const spec = FIELDS[t];
  for (const [name, kind] of Object.entries(spec)) {
    if (!(name in msg)) { problems.push(`${t}: ${name} is missing`); continue; }
    if (!KIND[kind](msg[name])) problems.push(`${t}.${name}: not ${kind}`);
  }
  for (const name of Object.keys(msg)) {
    if (!(name in spec) && name !== "v" && name !== "type") problems.push(`${t}: unknown field '${name}'`);
  }
  if (t === "snapshots" && Array.isArray(msg.items)) {
    if (msg.items.length > MAX_ITEMS) problems.push(`snapshots.items: ${msg.items.length} items, at most ${MAX_ITEMS}`);
    msg.items.slice(0, MAX_ITEMS).forEach((it, i) => {
      if (!isObj(it) || !Number.isInteger(it.start)) problems.push(`snapshots.items[${i}]: not a snapshot`);
    });
  }
  if ((t === "welcome" || t === "lead") && isNum(msg.lead_ms) && !(msg.lead_ms >= 0 && msg.lead_ms <= 5000)) {
    problems.push(`${t}.lead_ms: not between 0 and 5000 ms`);
  }
  return problems;
}

/** A message from the text received: [msg, []] or [null, problems]. */
export function decode(text, sender = "server") {
  if (typeof text !== "string") return [null, ["the message is not text"]];
  const size = new TextEncoder().encode(text).length;
  if (size > MAX_BYTES) return [null, [`the message is ${size} bytes, more than the limit of ${MAX_BYTES}`]];
  let msg;
  try { msg = JSON.parse(text); } catch (e) { return [null, [`not JSON: ${String(e).slice(0, 120)}`]]; }
  const problems = validate(msg, sender);
  return problems.length ? [null, problems] : [msg, []];
}

// ------------------------------------------------------------------ the page

const $ = (id) => document.getElementById(id);
const S = {
  conn: "connecting", ended: false, refused: "", welcome: null, caps: null, leadMs: 250,
  anchor: null, setState: "idle", received: 0, invalid: [], errors: [],
  mod: null, model: null, modelProblem: "", clockMod: null, clock: null, tick: null, avOffset: null,
  ctx: null, node: null, workletProblem: "", lastRaf: null, period: null, dropped: 0, frame: null,
  frames: [], wakeLock: null, retry: 0, ws: null, device: null, welcomes: 0, pendingLead: null, leads: 0,
};
const FRAMES_KEPT = 20000;

function say(message, detail = "") {
  $("message").textContent = message;
  $("detail").textContent = detail;
}

// model.js (the stimulus model: Stimulus, drawStimulus), clock.js (the audio clock against stimulus
// frames: StimulusClock, heardStimulusFrame) and worklet.js ("bls-stimulus", the tone) are bls's own.
async function loadModel() {
  try {
    S.mod = await import("./model.js");
    S.clockMod = await import("./clock.js");
  } catch (e) {
    S.modelProblem = `the stimulus model did not load: ${e}`;
  }
}

/** The model, made when the caps are known (welcome): it refuses what they forbid. */
function ensureModel() {
  if (!S.model && S.mod && S.caps) {
    try { S.model = new S.mod.Stimulus(S.caps); } catch (e) { S.modelProblem = String(e); }
  }
  return S.model;
}

/** The tone: an AudioWorkletNode rendering the same snapshots, on the clock's line (after the tap and
 * the welcome: it needs the context and the caps). */
function ensureNode() {
  if (S.node || !S.ctx || !S.workletReady || !S.caps || !ensureModel()) return;
  S.node = new AudioWorkletNode(S.ctx, "bls-stimulus", {
    numberOfInputs: 0, outputChannelCount: [2],
    processorOptions: { caps: S.caps, items: S.model.history.slice(), anchor: S.clock && S.clock.started ? S.clock.anchor() : null },
  });
  S.node.port.onmessage = (ev) => {
    const m = ev.data || {};
    if (m.type === "tick" && S.clock && S.clock.started) {
      // the picture's line against what the tone renders at the same context frame: their difference is
      // the page's own A/V offset (0 while both follow one line)
      S.avOffset = (m.tau - S.clock.tauAt(m.frame)) / SAMPLE_RATE * 1000;
    } else if (m.type === "refused") {
      S.invalid.push([m.reason]);
    }
  };
  S.node.connect(S.ctx.destination);
  $("sound").textContent = "Sound is on";
}

function token() {
  const parts = location.pathname.split("/");
  return parts[parts.length - 1];
}

function send(msg) {
  if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify(msg));
}

function audioState() {
  return S.ctx ? S.ctx.state : "none";
}

/** This page's device id (kept for the tab's life): coming back after a dropped connection, the same
 * device takes its place over from its old connection, while another device is refused. */
function deviceId() {
  if (S.device) return S.device;
  let id = null;
  try { id = sessionStorage.getItem("bls-device"); } catch (e) { /* storage off: an id for this load */ }
  if (!id || !/^[A-Za-z0-9_-]{16,64}$/.test(id)) {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    id = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    try { sessionStorage.setItem("bls-device", id); } catch (e) { /* kept in memory only */ }
  }
  S.device = id;
  return id;
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/ws/${token()}?c=${deviceId()}`);
  S.ws = ws;
  S.conn = "connecting";
  ws.onopen = () => {
    S.conn = "open";
    S.retry = 0;
    send({ v: SCHEMA, type: "hello", audio: audioState(),
      screen: { w: screen.width || innerWidth, h: screen.height || innerHeight, dpr: devicePixelRatio || 1 } });
  };
  ws.onmessage = (ev) => onMessage(ev.data);
  ws.onclose = (ev) => {
    S.conn = "closed";
    if (S.ended) return;
    if (ev.code === 4409) {
      S.refused = ev.reason;
      say("Another device is already connected to this session.", "Close it there, then reload this page.");
      return;
    }
    if (ev.code === 4000) { ended("Your therapist has ended the session."); return; }
    if (ev.code === 4408) {
      S.refused = ev.reason;
      say("This session was opened again in another window.", "Use that window, or reload this page to continue here.");
      return;
    }
    S.retry = Math.min(S.retry + 1, 5);
    say("The connection was lost: reconnecting…", ev.reason || "");
    setTimeout(connect, 500 * 2 ** (S.retry - 1));
  };
}

function ended(text) {
  S.ended = true;
  document.body.classList.remove("inset");
  document.body.classList.add("ended");
  say(text, "You can close this page.");
  if (S.node) S.node.port.postMessage({ type: "silence" });
  if (S.ctx) {
    const g = S.ctx.createGain();
    try { S.node.disconnect(); S.node.connect(g); g.connect(S.ctx.destination);
      g.gain.setTargetAtTime(0, S.ctx.currentTime, 0.3); } catch (e) { /* nothing plays */ }
  }
}

function onMessage(data) {
  const [msg, problems] = decode(data, "server");
  if (!msg) { S.invalid.push(problems); return; }
  S.received += 1;
  if (msg.type === "welcome") {
    S.welcome = msg;
    S.welcomes += 1;
    S.caps = msg.caps;
    if (!S.clock) S.leadMs = msg.lead_ms; // a rejoin with another lead: taken up as a lead message is
    else if (msg.lead_ms !== S.leadMs) { S.pendingLead = msg.lead_ms; takeLead(); }
    S.setState = msg.state.set_state || "idle";
    ensureModel();
    ensureNode();
    say("Connected: waiting for your therapist", S.ctx ? "" : "One tap on “Allow sound” lets you hear the tone.");
    document.body.classList.replace("waiting", "connected");
  } else if (msg.type === "snapshots") {
    const good = [];
    const model = ensureModel();
    for (const item of msg.items) {
      // the model refuses what breaks a hard cap or the gentle envelope, whoever sent it: never played
      const why = model ? model.push(item) : "the stimulus model is not loaded";
      if (why) { S.invalid.push([why]); continue; }
      good.push(item);
      S.setState = item.state;
    }
    S.anchor = { frame: msg.now_frame, t: performance.now() };
    if (S.clock && S.ctx) {
      S.clock.observe(S.ctx.currentTime * S.ctx.sampleRate, msg.now_frame);
    }
    if (S.node) {
      if (good.length) S.node.port.postMessage({ type: "snapshots", items: good });
      if (S.clock && S.clock.started) S.node.port.postMessage({ type: "anchor", ...S.clock.anchor() });
    }
    document.body.classList.toggle("inset", SET_STATES.has(S.setState));
    takeLead();
  } else if (msg.type === "ping") {
    send({ v: SCHEMA, type: "pong", id: msg.id, sent_ms: msg.sent_ms });
  } else if (msg.type === "lead") {
    S.pendingLead = msg.lead_ms;
    takeLead();
  } else if (msg.type === "bye") {
    ended(msg.reason === "the session ended" ? "Your therapist has ended the session." : `The session ended: ${msg.reason}.`);
  } else if (msg.type === "error") {
    S.errors.push(msg.problems);
  }
}

/** A new lead (the therapist's app measured the round trip) is taken up only while nothing plays:
 * the clock is placed on the new line at once (resync), which would be a jump during a set. */
function takeLead() {
  if (S.pendingLead === null || BUSY_STATES.has(S.setState)) return;
  S.leadMs = S.pendingLead;
  S.pendingLead = null;
  S.leads += 1;
  if (S.clock) {
    S.clock.leadFrames = Math.round(S.leadMs * SAMPLE_RATE / 1000);
    if (S.clock.started && S.ctx) {
      S.clock.resync(S.ctx.currentTime * S.ctx.sampleRate);
      if (S.node) S.node.port.postMessage({ type: "anchor", ...S.clock.anchor() });
    }
  }
}

/** The stimulus frame to draw in the rAF callback at `t` (performance.now ms): with sound, the frame
 * *heard* when this picture is seen (the audio clock's line, clock.js); before the tap, the therapist's
 * frame at the last message run on by the page's clock, `lead` behind. */
function frameAt(t) {
  const interval = S.period || 1000 / 60;
  if (S.clock && S.clock.started && S.ctx && typeof S.ctx.getOutputTimestamp === "function") {
    const ts = S.ctx.getOutputTimestamp();
    if (isNum(ts.contextTime) && isNum(ts.performanceTime) && ts.performanceTime > 0) {
      return S.clockMod.heardStimulusFrame(S.clock, ts, t, interval, S.ctx.sampleRate, 0);
    }
  }
  if (!S.anchor) return null;
  return S.anchor.frame + (t + interval - S.anchor.t) * SAMPLE_RATE / 1000 - S.leadMs * SAMPLE_RATE / 1000;
}

function draw(t) {
  requestAnimationFrame(draw);
  if (S.lastRaf !== null) {
    const dt = t - S.lastRaf;
    if (dt > 4 && (S.period === null || dt < S.period)) S.period = dt;
    if (S.period && dt > 1.5 * S.period) S.dropped += Math.round(dt / S.period) - 1;
  }
  S.lastRaf = t;
  const canvas = $("stage");
  const w = Math.round(canvas.clientWidth * devicePixelRatio);
  const h = Math.round(canvas.clientHeight * devicePixelRatio);
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const g = canvas.getContext("2d");
  let frame = frameAt(t);
  // never back in time: a late message re-anchoring the clock holds the target rather than rewinding it
  if (frame !== null && isNum(S.frame) && frame < S.frame) frame = S.frame;
  S.frame = frame;
  let x = null;
  let sample = null;
  if (frame !== null && S.model && !S.ended) {
    try { sample = S.model.sampleAt(frame); } catch (e) { S.modelProblem = String(e); }
  }
  if (sample && SET_STATES.has(sample.state)) {
    S.mod.drawStimulus(g, sample, w, h);  // background and target, as the room's painter draws them
    x = sample.x;
  } else {
    g.clearRect(0, 0, w, h);
  }
  if (frame !== null) {
    S.frames.push([frame, x]);
    if (S.frames.length > FRAMES_KEPT) S.frames.splice(0, S.frames.length - FRAMES_KEPT);
  }
}

function avOffsetMs() {
  return isNum(S.avOffset) ? S.avOffset : null;
}

function sendStatus() {
  send({ v: SCHEMA, type: "status", sound: !!(S.node && S.ctx && S.ctx.state === "running"),
    av_offset_ms: avOffsetMs(), dropped_frames: S.dropped, frame: isNum(S.frame) ? S.frame : null });
}

async function allowSound() {
  $("sound").disabled = true;
  try {
    S.ctx = S.ctx || new AudioContext({ sampleRate: SAMPLE_RATE, latencyHint: "interactive" });
    await S.ctx.resume();
    $("check").disabled = false;
    await S.ctx.audioWorklet.addModule("/static/worklet.js");
    S.workletReady = true;
    if (!S.clockMod) throw new Error(S.modelProblem || "the clock did not load");
    S.clock = new S.clockMod.StimulusClock({ contextRate: S.ctx.sampleRate,
      leadFrames: Math.round(S.leadMs * SAMPLE_RATE / 1000) });
    ensureNode();
    $("sound").textContent = "Sound is on";
  } catch (e) {
    S.workletProblem = String(e);
    $("sound").disabled = false;
    say("Sound could not be started in this browser.", String(e));
  }
  keepAwake();
}

function headphoneCheck() {
  if (!S.ctx) return;
  const steps = [[-1, "Left"], [1, "Right"]];
  steps.forEach(([pan, label], i) => {
    const t0 = S.ctx.currentTime + 0.1 + i * 1.2;
    const osc = new OscillatorNode(S.ctx, { frequency: 440 });
    const gain = new GainNode(S.ctx, { gain: 0 });
    const panner = new StereoPannerNode(S.ctx, { pan });
    osc.connect(gain).connect(panner).connect(S.ctx.destination);
    gain.gain.setTargetAtTime(0.12, t0, 0.03);
    gain.gain.setTargetAtTime(0, t0 + 0.8, 0.05);
    osc.start(t0);
    osc.stop(t0 + 1.1);
    setTimeout(() => { $("side").textContent = `${label} ear`; }, (t0 - S.ctx.currentTime) * 1000);
  });
  setTimeout(() => { $("side").textContent = ""; }, 2600);
}

async function keepAwake() {
  try {
    if ("wakeLock" in navigator && document.visibilityState === "visible") {
      S.wakeLock = await navigator.wakeLock.request("screen");
    }
  } catch (e) { /* not granted: the screen may dim */ }
}

function start() {
  $("sound").addEventListener("click", allowSound);
  $("check").addEventListener("click", headphoneCheck);
  $("fullscreen").addEventListener("click", () => {
    const el = document.documentElement;
    if (document.fullscreenElement) document.exitFullscreen();
    else if (el.requestFullscreen) el.requestFullscreen().catch(() => {});
  });
  document.addEventListener("visibilitychange", () => { if (S.ctx) keepAwake(); });
  window.blsTest = {
    state: () => ({ conn: S.conn, ended: S.ended, refused: S.refused, welcome: !!S.welcome, welcomes: S.welcomes,
      leadMs: S.leadMs, pendingLead: S.pendingLead, leads: S.leads, awake: !!(S.wakeLock && !S.wakeLock.released),
      side: $("side").textContent, endedClass: document.body.classList.contains("ended"),
      lagErrorMs: S.clock && S.clock.started && S.ctx ? S.clock.error(S.ctx.currentTime * S.ctx.sampleRate) / SAMPLE_RATE * 1000 : null,
      received: S.received, setState: S.setState, invalid: S.invalid.length, errors: S.errors.length,
      model: !!S.model, modelProblem: S.modelProblem, message: $("message").textContent,
      clock: !!(S.clock && S.clock.started), avOffsetMs: avOffsetMs(),
      dropped: S.dropped, sound: !!S.node,
      outputLatencyS: S.ctx && isNum(S.ctx.outputLatency) ? S.ctx.outputLatency : null,
      baseLatencyS: S.ctx && isNum(S.ctx.baseLatency) ? S.ctx.baseLatency : null }),
    frames: () => S.frames.slice(),
    clearFrames: () => { S.frames = []; },
    validate, decode,
  };
  loadModel().finally(() => {
    connect();
    requestAnimationFrame(draw);
    setInterval(sendStatus, 500);
  });
}

start();
