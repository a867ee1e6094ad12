"""The clinical policy of a session: what may change at once, what needs the therapist's yes, and
what is never allowed. Stdlib and ``bls.core`` only; no front end decides any of this.

- Hard caps (the preset schema's ranges: speed <= 2 cycles/s, level <= -12 dBFS ...) hold on every
  path: the engine enforces them (``core.engine.enforce``) and the policy refuses to *record* a value
  beyond them as asked for.
- Gentle mode's envelope (``core.gentle``): going past a limit asks; a yes unlocks exactly the value
  asked for, for that one limit. Going further asks again. Unlocks end when gentle mode ends or
  another preset is loaded.
- Leaving gentle mode, by any path, asks; staying is the safe answer.
- The rest after a gentle set: starting the next set before it has run out asks; waiting is the safe
  answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core import gentle
from ..core.engine import SAMPLE_RATE, enforce
from ..core.preset import Preset

#: kinds of question a session can put to the therapist
UNLOCK, LEAVE_GENTLE, CUT_REST = "unlock", "leave_gentle", "cut_rest"


@dataclass(frozen=True)
class Question:
    """A question from the session to the therapist. ``no`` is always the safe answer: it is what a
    closed window, a stop key, a script without an answer or a front end that cannot ask gives."""
    id: int
    kind: str
    title: str
    text: str
    details: tuple[str, ...] = ()
    yes: str = "Yes"
    no: str = "No"


@dataclass
class Policy:
    unlocks: dict[str, object] = field(default_factory=dict)  # limit -> the value confirmed
    rest_from_frame: int | None = None  # when the last gentle set ended (stimulus frame)

    # ------------------------------------------------------------------ changes

    def beyond(self, settings: Preset) -> list[gentle.Violation]:
        """What in ``settings`` goes past the gentle envelope and past what is unlocked."""
        return gentle.beyond(settings, self.unlocks)

    def unlock(self, violations: list[gentle.Violation]) -> list[dict]:
        """The therapist said yes: each limit is unlocked to exactly the value asked for. Returns the
        record events."""
        events = []
        for v in violations:
            self.unlocks[v.limit] = v.measure
            events.append({"limit": v.limit, "field": v.field, "value": v.value, "measure": v.measure,
                           "gentle_limit": v.allowed})
        return events

    def forget_unlocks(self) -> None:
        self.unlocks.clear()

    def effective(self, settings: Preset) -> Preset:
        """What plays for ``settings``: hard caps, and the gentle limits at the limit or the unlock."""
        return enforce(settings, self.unlocks)

    # ------------------------------------------------------------------ rest

    def set_ended(self, end_frame: int, rest_s: float, gentle_set: bool) -> None:
        """A set ended: its rest (``rest_s``, as played at its end) starts now, on the stimulus clock."""
        self.rest_from_frame = end_frame
        self.rest_s = rest_s
        self.rest_holds = gentle_set

    rest_s: float = 0.0
    rest_holds: bool = False  # the set that ended was gentle: starting early asks

    def rest_remaining(self, now_frame: int) -> float:
        """Seconds of the rest after the last set still to run (0 when none is due)."""
        if self.rest_from_frame is None:
            return 0.0
        return max(0.0, self.rest_s - (now_frame - self.rest_from_frame) / SAMPLE_RATE)

    # ------------------------------------------------------------------ questions

    @staticmethod
    def unlock_question(qid: int, violations: list[gentle.Violation]) -> Question:
        return Question(qid, UNLOCK, "Leave the gentle limits?", "This goes past the gentle-mode limits:",
                        tuple(str(v) for v in violations) + (
                            "Unlock this value for this session? Going further asks again; the session "
                            "record keeps the unlock and the values played.",),
                        "Unlock", "Keep gentle limits")

    @staticmethod
    def leave_gentle_question(qid: int, what: str, beyond: list[gentle.Violation]) -> Question:
        details = tuple(str(v) for v in beyond) + ("The change glides; nothing jumps. The session record keeps it.",)
        return Question(qid, LEAVE_GENTLE, "Leave gentle mode?", what, details,
                        "Leave gentle mode", "Stay in gentle mode")

    @staticmethod
    def rest_question(qid: int, remaining: float, rest: float) -> Question:
        return Question(qid, CUT_REST, "Start now?",
                        f"Start now? {remaining:.0f} s of the {rest:.0f} s rest remain.",
                        ("The rest between gentle sets lets the client settle. Waiting is the gentle choice; "
                         "starting now is recorded.",), "Start now", "Wait")
