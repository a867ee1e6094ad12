// worklet.js: the AudioWorkletProcessor that renders the tone from the snapshots (model.js, the same
// code the page draws with). Load it with ctx.audioWorklet.addModule("worklet.js") and make
//   new AudioWorkletNode(ctx, "bls-stimulus", {numberOfInputs: 0, outputChannelCount: [2],
//     processorOptions: {caps, items: [wire snapshots...], anchor: {c0, tau0, rate} | null,
//                        historyS (optional: stimulus seconds of snapshots kept, default 4)}})
// processorOptions are taken before the first block (an OfflineAudioContext renders them exactly).
// Messages to node.port:
//   {type: "snapshots", items: [wire...]}  pushed through Stimulus.push (validated: a refused one is
//                                          reported back as {type: "refused", reason, start})
//   {type: "anchor", c0, tau0, rate}       the clock's line (clock.js anchor()): context frame c plays
//                                          stimulus frame tau0 + rate * (c - c0)
//   {type: "silence"}                      no anchor: silence (the page lost its therapist)
// Messages from the processor: {type: "refused", reason, start}; every ~0.5 s {type: "tick", frame:
// currentFrame, tau} (what is being rendered, for the page's readout).
// Before any anchor or snapshot it outputs silence.

import { Stimulus } from "./model.js";

class BlsStimulusProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = (options && options.processorOptions) || {};
    this.stim = new Stimulus(o.caps, o.historyS ? { historyS: o.historyS } : {});
    this.anchor = o.anchor || null;
    this.lastTick = -Infinity;
    for (const w of o.items || []) this._push(w);
    this.port.onmessage = (ev) => {
      const m = ev.data || {};
      if (m.type === "snapshots" && Array.isArray(m.items)) for (const w of m.items) this._push(w);
      else if (m.type === "anchor" && [m.c0, m.tau0, m.rate].every(Number.isFinite) && m.rate > 0) this.anchor = { c0: m.c0, tau0: m.tau0, rate: m.rate };
      else if (m.type === "silence") this.anchor = null;
    };
  }

  _push(w) {
    const reason = this.stim.push(w);
    if (reason) this.port.postMessage({ type: "refused", reason, start: w && w.start });
  }

  process(inputs, outputs) {
    const out = outputs[0];
    const left = out[0], right = out[1] || out[0];
    const a = this.anchor;
    if (!a || !this.stim.history.length) { left.fill(0); if (right !== left) right.fill(0); return true; }
    const tau = a.tau0 + a.rate * (currentFrame - a.c0);
    this.stim.renderInto(tau, left, right, a.rate);
    if (currentFrame - this.lastTick >= sampleRate / 2) {
      this.lastTick = currentFrame;
      this.port.postMessage({ type: "tick", frame: currentFrame, tau });
    }
    return true;
  }
}

registerProcessor("bls-stimulus", BlsStimulusProcessor);
