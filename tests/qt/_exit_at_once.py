"""A pytest plugin for the JACK-loss child: the process ends with os._exit once pytest is done, as the
app does (bls.cli). After a JACK server died under it, PortAudio can neither be terminated (pa_jack.c
asserts) nor left to the interpreter's teardown (its threads crash it)."""

import os
import sys

_status = [0]


def pytest_sessionfinish(session, exitstatus):
    _status[0] = int(exitstatus)


def pytest_unconfigure(config):
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_status[0])
