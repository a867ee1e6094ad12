"""The simulated long session: a sound card whose sample clock runs off the system clock.

Pure numpy + core: what the display would compute, anchor by anchor, over an hour. bls maps display
time to audio frames through :class:`~bls.core.clock.AnchorMap`; the naive design runs the picture
on the system clock and the tone on the sound card's clock, so they drift apart by the mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.clock import Anchor, AnchorMap


@dataclass
class DriftResult:
    t_s: np.ndarray  # display times sampled (s since start)
    bls_offset_ms: np.ndarray  # picture minus sound, bls (ms)
    naive_offset_ms: np.ndarray  # picture minus sound, naive two-clock design (ms)
    ppm: float
    jitter_ms: float

    def summary(self) -> dict:
        def stats(a):
            a = np.asarray(a)
            i = int(np.argmax(np.abs(a)))
            return {"max_abs_ms": float(np.abs(a).max()), "signed_at_max_ms": float(a[i]),
                    "final_ms": float(a[-1]), "mean_ms": float(a.mean())}
        return {"duration_s": float(self.t_s[-1]), "ppm": self.ppm, "jitter_ms": self.jitter_ms,
                "bls": stats(self.bls_offset_ms), "naive": stats(self.naive_offset_ms)}


def simulate(duration_s: float = 3600.0, ppm: float = 200.0, jitter_ms: float = 0.5, block: int = 1024,
             sample_rate: int = 48_000, fps: float = 60.0, probe_every_s: float = 1.0, seed: int = 1,
             ) -> DriftResult:
    """Simulate ``duration_s`` of a session with the DAC clock ``ppm`` off the system clock.

    Truth: frame f is heard at system time ``f / (sample_rate * (1 + ppm 1e-6)) + latency``.
    Each block publishes an anchor with that time plus uniform jitter of +-``jitter_ms``. Every
    ``probe_every_s`` (at a display frame) the offset of each design is recorded: how far the sound
    heard at that moment is from what the picture shows, in ms of stimulus time.
    """
    rng = np.random.default_rng(seed)
    true_rate = sample_rate * (1.0 + ppm * 1e-6)  # frames per system second
    latency = 0.05
    amap = AnchorMap(sample_rate)
    n_blocks = int(duration_s * true_rate / block) + 2
    probe_frames = np.arange(0.0, duration_s, 1.0 / fps)
    probe_times = probe_frames[:: max(1, int(round(probe_every_s * fps)))]
    out_t, out_bls, out_naive = [], [], []
    p = 0
    for b in range(n_blocks):
        f = b * block
        t_heard = f / true_rate + latency
        t_pub = t_heard - latency + block / true_rate  # published at the end of the callback
        while p < len(probe_times) and probe_times[p] < t_pub:
            t = probe_times[p]
            if amap.locked:
                true_frame = (t - latency) * true_rate
                est = amap.frame_at(t)
                out_t.append(t)
                out_bls.append((est - true_frame) / sample_rate * 1000.0)
                # naive: the picture counts system time, the sound counts sound-card frames
                naive_picture = (t - latency) * sample_rate
                out_naive.append((naive_picture - true_frame) / sample_rate * 1000.0)
            p += 1
        amap.add(Anchor(f, t_heard + rng.uniform(-jitter_ms, jitter_ms) / 1000.0))
    return DriftResult(np.array(out_t), np.array(out_bls), np.array(out_naive), ppm, jitter_ms)
