// clock.js: the client's audio clock against the therapist's stimulus frames. Pure: every time is
// passed in (context frames, performance.now() milliseconds), so it is tested without a browser clock.
//
// The page plays therapist stimulus frame tau at context frame c along a straight line
//   tau(c) = tau0 + rate * (c - c0)
// re-anchored at every correction so tau is continuous (never a jump). `rate` is the nominal
// stimulusRate / contextRate times (1 + ppm * 1e-6): a PI loop (a type-2 PLL) on the lag error moves
// ppm slowly, within +-maxPpm, so neither clock's drift empties or grows the lead. The target is the
// therapist's newest frame as best known (the freshest of the recent messages, extrapolated at the
// nominal rate: network delay only makes a message older, so the largest estimate is the best) minus
// the lead (about the round-trip time plus a margin, given by the page).
//
// Exports
//   class StimulusClock
//     new StimulusClock({contextRate, stimulusRate = 48000, leadFrames, kp, ki, maxPpm = 1000, windowS = 4})
//     observe(ctxFrame, therapistFrame)  a message received at context frame ctxFrame said the therapist's
//                                        engine was at therapistFrame; the first one places the line
//                                        (tau = therapistFrame - leadFrames), later ones correct the rate
//     tauAt(ctxFrame) -> stimulus frame played at that context frame (null before the first observe)
//     anchor() -> {c0, tau0, rate} (post it to the worklet: its tau at context frame c is
//                 tau0 + rate * (c - c0))
//     error(ctxFrame) -> target - tau (stimulus frames): how far the lag is from the lead
//     ppm, rate, started                   the correction now, frames of stimulus per context frame
//     resync(ctxFrame)                     place the line on the target at once (a rejoin: the one jump)
//   heardContextTime(outputTimestamp, displayTimeMs, latencyS = 0) -> context seconds heard when a frame
//     shown at displayTimeMs (performance.now() time) reaches the eye: getOutputTimestamp() gives the
//     context time being output at its performanceTime; latencyS is subtracted (pass ctx.outputLatency
//     on a browser whose output timestamp does not include the device's latency)
//   displayTime(rafTimeMs, frameIntervalMs) -> when the frame drawn in this rAF callback is shown
//     (the next vsync)
//   heardStimulusFrame(clock, outputTimestamp, rafTimeMs, frameIntervalMs, contextRate, latencyS = 0)
//     -> the stimulus frame to draw (the one heard when the frame is seen)

export class StimulusClock {
  constructor({ contextRate, stimulusRate = 48000, leadFrames, kp = 4.2e4, ki = 900, maxPpm = 1000, windowS = 4 } = {}) {
    if (!(contextRate > 0) || !(leadFrames >= 0)) throw new Error("StimulusClock: contextRate and leadFrames");
    this.contextRate = contextRate;
    this.stimulusRate = stimulusRate;
    this.nominal = stimulusRate / contextRate;
    this.leadFrames = leadFrames;
    this.kp = kp; // ppm per second of lag error
    this.ki = ki; // ppm per second of lag error per second
    this.maxPpm = maxPpm;
    this.window = windowS * contextRate;
    this.obs = []; // [ctxFrame, therapistFrame], recent
    this.started = false;
    this.c0 = 0; this.tau0 = 0; this.ppm = 0; this.integ = 0;
  }

  get rate() { return this.nominal * (1 + this.ppm * 1e-6); }

  tauAt(c) { return this.started ? this.tau0 + this.rate * (c - this.c0) : null; }

  anchor() { return { c0: this.c0, tau0: this.tau0, rate: this.rate }; }

  target(c) {
    let best = -Infinity;
    for (const [ci, fi] of this.obs) best = Math.max(best, fi + (c - ci) * this.nominal);
    return best - this.leadFrames;
  }

  error(c) { return this.target(c) - this.tauAt(c); }

  resync(c) {
    this.tau0 = this.target(c); this.c0 = c; this.integ = 0; this.ppm = 0; this.started = true;
  }

  observe(c, therapistFrame) {
    this.obs.push([c, therapistFrame]);
    while (this.obs.length > 1 && this.obs[0][0] < c - this.window) this.obs.shift();
    if (this.obs.length > 256) this.obs.shift();
    if (!this.started) { this.resync(c); return; }
    const dt = (c - this.c0) / this.contextRate; // seconds since the last correction
    // re-anchor where the line is now: tau stays continuous whatever the new rate
    this.tau0 = this.tauAt(c); this.c0 = c;
    if (dt <= 0) return;
    const e = this.error(c) / this.stimulusRate; // seconds of stimulus time
    const p = this.kp * e;
    const integ = this.integ + e * dt;
    let ppm = p + this.ki * integ;
    if (Math.abs(ppm) <= this.maxPpm) this.integ = integ; // no wind-up while saturated
    ppm = Math.max(-this.maxPpm, Math.min(this.maxPpm, p + this.ki * this.integ));
    this.ppm = ppm;
  }
}

export function heardContextTime(ts, displayTimeMs, latencyS = 0) {
  return ts.contextTime + (displayTimeMs - ts.performanceTime) / 1000 - latencyS;
}

export function displayTime(rafTimeMs, frameIntervalMs) { return rafTimeMs + frameIntervalMs; }

export function heardStimulusFrame(clock, ts, rafTimeMs, frameIntervalMs, contextRate, latencyS = 0) {
  const t = heardContextTime(ts, displayTime(rafTimeMs, frameIntervalMs), latencyS);
  return clock.tauAt(t * contextRate);
}
