"""The session: clinical policy, the clock that drives the engine, and the record. No Qt.

``SessionCore`` is what every front end drives (the Qt app through ``bls.ui.qt_session``, a script
through ``bls script``); ``Policy`` decides what needs the therapist's yes; ``SessionRecord`` keeps
what was delivered; ``ClockManager`` keeps exactly one clock on the engine.
"""

from .core import KEYS, Hook, SessionCore
from .policy import CUT_REST, LEAVE_GENTLE, UNLOCK, Policy, Question
from .record import SCHEMA_VERSION, RecordError, SessionRecord, read_record

__all__ = ["KEYS", "Hook", "SessionCore", "CUT_REST", "LEAVE_GENTLE", "UNLOCK", "Policy", "Question",
           "SCHEMA_VERSION", "RecordError", "SessionRecord", "read_record"]
