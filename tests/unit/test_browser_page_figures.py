"""What the outside instrument keeps of the browser page's own figures (``recorder.page_figures``): only
the states sampled while the page's audio clock ran count, the latest of each, the worst own offset."""

from __future__ import annotations

from bls.bench import recorder


def _state(clock, **kw):
    base = {"clock": clock, "avOffsetMs": None, "dropped": 0, "outputLatencyS": 0.1, "baseLatencyS": 0.02,
            "setState": "idle", "invalid": 0, "errors": 0}
    return {**base, **kw}


def test_only_states_with_the_clock_running_count_and_the_latest_values_are_kept():
    states = [_state(False, dropped=40, outputLatencyS=0.128, setState="idle"),
              _state(True, avOffsetMs=0.25, dropped=41, outputLatencyS=0.088, setState="running"),
              _state(True, avOffsetMs=-0.75, dropped=43, outputLatencyS=0.072, setState="running", invalid=2)]
    f = recorder.page_figures(states)
    assert f["states"] == 3 and f["clock_running"] == 2
    assert f["own_av_offset_max_abs_ms"] == 0.75
    assert f["dropped_frames"] == 43
    assert f["output_latency_s"] == 0.072
    assert f["set_state"] == "running"
    assert f["invalid"] == 2


def test_a_page_whose_clock_never_ran_has_no_figures_but_says_so():
    f = recorder.page_figures([_state(False, avOffsetMs=5.0, dropped=3)])
    assert f["clock_running"] == 0
    assert f["own_av_offset_max_abs_ms"] is None and f["dropped_frames"] is None and f["set_state"] is None
    assert recorder.page_figures([]) is None and recorder.page_figures(None) is None
