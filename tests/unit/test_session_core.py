"""The session core decides the clinical rules, with no Qt and no sound card: each finding of the
'clinical rules in a Qt-free core' issue, reproduced through the core (tests/qt has the same through
the app, tests/e2e through ``bls script``)."""

import pytest

from bls.core import gentle
from bls.core.engine import IDLE, PAUSED, RUNNING, SAMPLE_RATE
from bls.core.preset import builtin_presets
from bls.session import CUT_REST, LEAVE_GENTLE, UNLOCK, SessionCore, SessionRecord
from bls.session.script import ScriptClock


class Run:
    """A core on a manual clock; ``at(t)`` runs the session up to ``t`` seconds."""

    def __init__(self, preset):
        self.clock = None

        def clocks(engine, _want):
            self.clock = ScriptClock(engine)
            return self.clock
        self.core = SessionCore(preset, clocks, SessionRecord())
        self.asked = []
        self.core.question_opened.connect(self.asked.append)

    def at(self, t: float) -> "Run":
        self.clock.advance_to(int(round(t * SAMPLE_RATE)), self.core)
        return self

    def kinds(self):
        return [e["kind"] for e in self.core.record.events]


def gentle_preset():
    return builtin_presets()["gentle"]


def standard():
    return builtin_presets()["standard"].with_("motion", set_mode="free")


# ----------------------------------------------------------------------------- the rest


def test_starting_during_a_gentle_rest_asks_and_the_safe_answer_waits():
    r = Run(gentle_preset())
    c = r.core
    c.start()
    r.at(3.0)
    c.stop()
    r.at(8.0)
    assert c.status.state == IDLE and len(c.record.sets) == 1
    assert c.key("Space") == "asked"
    q = c.question
    assert q.kind == CUT_REST and "of the 30 s rest remain" in q.text and q.no == "Wait"
    c.answer(False)
    r.at(8.5)
    assert c.status.state == IDLE  # it waited
    assert "rest_cut_short" not in r.kinds()
    c.key("Space")
    c.answer(True)
    r.at(9.0)
    assert c.status.state == RUNNING
    (cut,) = [e for e in c.record.events if e["kind"] == "rest_cut_short"]
    ended = c.record.sets[0]["ended_s"]
    assert cut["remaining_s"] == pytest.approx(30.0 - (8.5 - ended), abs=0.02)


def test_after_the_rest_a_set_starts_without_a_question():
    r = Run(gentle_preset().with_("timing", rest_s=10.0))
    c = r.core
    c.start()
    r.at(2.0)
    c.stop()
    r.at(16.0)
    assert c.start() == "applied" and c.question is None


def test_outside_gentle_mode_the_rest_is_only_counted_down():
    r = Run(standard().with_("timing", rest_s=30.0))
    c = r.core
    c.start()
    r.at(2.0)
    c.stop()
    r.at(4.0)
    assert c.start() == "applied"


# ----------------------------------------------------------------------------- gentle on mid-set


def test_gentle_switched_on_mid_set_at_2_cycles_per_second_is_inside_within_3_s_and_recorded():
    r = Run(standard().with_("motion", speed_cycles_per_s=2.0))
    c = r.core
    c.start()
    r.at(6.0)
    assert c.set_gentle(True) == "applied"
    r.at(9.0)
    assert c.engine.status.speed_cycles_per_s <= gentle.SPEED_MAX
    r.at(12.0)
    c.stop()
    r.at(16.0)
    (s,) = c.record.sets
    assert s["gentle"] is True and s["unlocked"] == {}
    speeds = [(x["t_s"], x["speed_cycles_per_s"], x["gentle"]) for x in s["samples"]]
    assert max(v for t, v, g in speeds if t < 6.0) == pytest.approx(2.0)  # what was delivered before
    assert all(v <= gentle.SPEED_MAX for t, v, g in speeds if t >= 9.0)
    assert any(g for t, v, g in speeds) and not all(g for t, v, g in speeds)
    assert "gentle_on" in r.kinds()


# ----------------------------------------------------------------------------- unlock scope


def test_an_unlock_confirms_one_value_going_further_asks_again():
    r = Run(gentle_preset())
    c = r.core
    c.start()
    r.at(1.0)
    assert c.set_field("motion.speed_cycles_per_s", 0.6) == "asked"
    assert c.question.kind == UNLOCK and "0.6 cycles/s" in c.question.details[0]
    c.answer(True)
    assert c.settings.motion.speed_cycles_per_s == 0.6 and c.unlocks == {"speed": 0.6}
    assert c.key("Up") == "asked"  # 0.65: further than the value unlocked
    c.answer(False)
    assert c.settings.motion.speed_cycles_per_s == 0.6
    for _ in range(60):  # a therapist holding Up: every step past 0.6 asks, none is taken
        c.key("Up")
        c.answer(False)
    assert c.settings.motion.speed_cycles_per_s == 0.6
    r.at(12.0)
    assert c.engine.status.speed_cycles_per_s <= 0.6 + 1e-9
    assert c.key("Down") == "applied"  # back inside what was confirmed: no question
    assert [e["limit"] for e in c.record.events if e["kind"] == "unlock"] == ["speed"]


def test_unlocks_end_when_gentle_mode_ends_or_another_preset_is_loaded():
    r = Run(gentle_preset())
    c = r.core
    c.set_field("motion.speed_cycles_per_s", 0.6)
    c.answer(True)
    assert c.unlocks == {"speed": 0.6}
    c.load_preset(gentle_preset(), "gentle")  # the same gentle preset again: unlocks end
    assert c.unlocks == {} and c.settings.motion.speed_cycles_per_s == 0.35
    c.set_field("motion.speed_cycles_per_s", 0.6)
    c.answer(True)
    c.set_gentle(False)
    c.answer(True)
    assert c.unlocks == {} and not c.settings.gentle
    c.set_gentle(True)
    assert c.settings.motion.speed_cycles_per_s == 0.35  # softened again, nothing carried over
    assert "unlocks_ended" in r.kinds()


# ----------------------------------------------------------------------------- leaving gentle mode


@pytest.mark.parametrize("how", ["untick", "preset"])
def test_leaving_gentle_mode_by_any_path_asks_and_staying_is_the_default(how):
    r = Run(gentle_preset())
    c = r.core
    c.start()
    r.at(2.0)
    outcome = c.set_gentle(False) if how == "untick" else c.load_preset(builtin_presets()["standard"], "standard")
    assert outcome == "asked" and c.question.kind == LEAVE_GENTLE and c.question.no == "Stay in gentle mode"
    c.answer(False)
    assert c.settings.gentle and c.settings == gentle_preset()
    assert c.preset_name == "gentle"
    r.at(3.0)
    assert c.engine.settings.gentle


# ----------------------------------------------------------------------------- stop always wins


@pytest.mark.parametrize("key", ["Escape", "PageUp", "B"])
def test_a_stop_key_stops_the_set_whatever_question_is_open(key):
    r = Run(gentle_preset())
    c = r.core
    c.start()
    r.at(2.0)
    c.set_gentle(False)  # "Leave gentle mode?" stays open
    assert c.question is not None
    c.key(key)
    assert c.question is None
    r.at(6.0)
    assert c.status.state == IDLE and c.record.sets[0]["stop_reason"] == "stopped"
    assert c.settings.gentle  # the question closed with its safe answer
    answers = [e for e in c.record.events if e["kind"] == "answer"]
    assert answers[-1]["answer"] == "no" and answers[-1]["why"] == "stop"


def test_space_does_not_get_past_an_open_question():
    r = Run(gentle_preset())
    c = r.core
    c.start()
    r.at(1.0)
    c.set_field("motion.speed_cycles_per_s", 0.9)
    assert c.key("Space") == "unchanged" and c.status.state == RUNNING


# ----------------------------------------------------------------------------- presets


def test_a_gentle_preset_beyond_the_envelope_kept_inside_loads_clamped_not_the_previous_one():
    r = Run(builtin_presets()["standard"])
    c = r.core
    fast = gentle_preset().with_(name="fast gentle").with_("motion", speed_cycles_per_s=0.55)
    assert c.load_preset(fast) == "asked"
    c.answer(False)  # "Keep gentle limits"
    assert c.settings.gentle and c.settings.motion.speed_cycles_per_s == 0.5
    assert c.preset_name == "fast gentle"
    r.at(0.5)
    assert c.engine.settings.motion.speed_cycles_per_s == 0.5  # not the previous preset's 1.0
    c.load_preset(fast)
    c.answer(True)
    assert c.settings.motion.speed_cycles_per_s == 0.55 and c.unlocks == {"speed": 0.55}


def test_a_setting_outside_the_schema_is_refused_with_the_allowed_range():
    c = Run(standard()).core
    with pytest.raises(ValueError, match="allowed 0.05 to 2 cycles/s"):
        c.set_field("motion.speed_cycles_per_s", 5.0)
    with pytest.raises(ValueError, match="no such setting"):
        c.set_field("motion.sped", 1.0)
    assert c.settings.motion.speed_cycles_per_s == 1.0


# ----------------------------------------------------------------------------- the record


def test_the_record_holds_what_was_delivered_not_the_end_of_set_values():
    r = Run(standard().with_("motion", speed_cycles_per_s=2.0))
    c = r.core
    c.start()
    r.at(5.0)
    c.set_field("motion.speed_cycles_per_s", 1.0)
    r.at(10.0)
    c.stop()
    r.at(13.0)
    (s,) = c.record.sets
    samples = s["samples"]
    assert max(x["speed_cycles_per_s"] for x in samples) == pytest.approx(2.0)
    assert all(b["t_s"] - a["t_s"] <= 0.5 for a, b in zip(samples, samples[1:]))
    assert {k for k in samples[0]} >= {"t_s", "speed_cycles_per_s", "level_dbfs", "carrier_hz", "pan_depth_pct",
                                       "target_diameter_pct"}
    (change,) = [e for e in c.record.events if e["kind"] == "setting"]
    assert (change["field"], change["old"], change["new"], change["t_s"]) == ("motion.speed_cycles_per_s", 2.0, 1.0, 5.0)


# ----------------------------------------------------------------------------- the client's screen


def test_the_clients_screen_unplugged_mid_set_pauses_it_and_is_recorded():
    r = Run(standard())
    c = r.core
    told = []
    c.notice.connect(told.append)
    c.start()
    r.at(3.0)
    c.screen_lost("HDMI-1")
    r.at(5.0)
    assert c.status.state == PAUSED and "HDMI-1" in told[-1] and "paused" in told[-1]
    c.screen_back("HDMI-1")
    assert c.status.state == PAUSED  # the therapist resumes
    c.key("Space")
    r.at(6.0)
    assert c.status.state == RUNNING
    kinds = [(e["kind"], e.get("connected")) for e in c.record.events]
    assert ("screen_change", False) in kinds and ("screen_change", True) in kinds


def test_resuming_a_paused_gentle_set_never_asks_about_the_rest():
    r = Run(gentle_preset())
    c = r.core
    c.start()
    r.at(2.0)
    c.stop()
    r.at(8.0)
    c.key("Space")
    c.answer(True)  # the second set starts early, deliberately
    r.at(10.0)
    c.key("Space")  # pause
    r.at(12.0)
    assert c.status.state == PAUSED
    assert c.key("Space") == "applied" and c.question is None  # resume: no rest is owed mid-set
    r.at(13.0)
    assert c.status.state == RUNNING


def test_a_change_made_as_the_set_starts_is_recorded_as_a_change_during_the_set():
    r = Run(standard())
    c = r.core
    c.start()
    c.set_field("motion.speed_cycles_per_s", 1.5)  # same moment: the clock thread has not begun the set
    r.at(2.0)
    assert [(e["kind"], e["field"]) for e in c.record.events if e["kind"] == "setting"] == [
        ("setting", "motion.speed_cycles_per_s")]
