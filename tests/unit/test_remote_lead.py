"""The lead the page plays behind the therapist's clock, from the round trips measured."""

from __future__ import annotations

import math

from bls.remote.lead import recommended_lead_ms, worth_changing


def test_no_lead_is_proposed_before_five_round_trips():
    assert recommended_lead_ms([]) is None
    assert recommended_lead_ms([20.0, 20.0, 20.0, 20.0]) is None
    assert recommended_lead_ms([20.0, math.nan, -1.0, 20.0, 20.0, 20.0]) is None  # only four usable


def test_a_fast_network_gets_the_shortest_lead():
    # p90 of [1, 1, 2, 2, 3] is 3 ms: 103 ms, rounded up to 110, raised to the 150 ms floor
    assert recommended_lead_ms([1.0, 2.0, 3.0, 2.0, 1.0]) == 150.0


def test_the_lead_follows_the_90th_percentile_plus_the_margin():
    # ten round trips: the 90th percentile is the 9th smallest
    assert recommended_lead_ms([100.0] * 9 + [400.0]) == 200.0  # one late round trip of ten: ignored
    assert recommended_lead_ms([100.0] * 8 + [400.0, 400.0]) == 500.0  # two of ten: followed
    assert recommended_lead_ms([123.0] * 5) == 230.0  # 223, rounded up to 10 ms
    assert recommended_lead_ms([5000.0] * 5) == 2000.0  # at most two seconds


def test_a_new_lead_only_when_it_differs_enough():
    assert worth_changing(250.0, 150.0)  # 100 ms, 40 %
    assert not worth_changing(250.0, 270.0)  # 20 ms
    assert not worth_changing(1000.0, 1150.0)  # 150 ms but 15 %
    assert worth_changing(1000.0, 1200.0)
    assert not worth_changing(250.0, None)
