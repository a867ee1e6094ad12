"""The benchmark's busy loops end with the run, even when Ctrl-C or SIGTERM lands as one starts (CI
once found a busy loop still running after a Ctrl-C: the signal had arrived between the process
starting and the benchmark remembering it)."""
import os
import signal
import subprocess

import pytest

from bls.bench import recorder


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")


def test_signals_held_delays_a_signal_to_the_end_of_the_block():
    seen = []
    with pytest.raises(KeyboardInterrupt):
        with recorder.signals_held():
            signal.raise_signal(signal.SIGINT)
            seen.append("after the signal")  # the block went on
    assert seen == ["after the signal"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_signals_held_raises_sigterm_through_the_handler_it_restores():
    def handler(signum, _frame):
        raise SystemExit(128 + signum)
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        with pytest.raises(SystemExit) as stopped:
            with recorder.signals_held():
                signal.raise_signal(signal.SIGTERM)
        assert stopped.value.code == 128 + signal.SIGTERM
        assert signal.getsignal(signal.SIGTERM) is handler
    finally:
        signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_landing_as_a_busy_loop_starts_leaves_nothing_running(monkeypatch, sig):
    started = []
    real_popen = subprocess.Popen

    def popen_then_signal(*args, **kwargs):  # the signal arrives the moment the process exists
        proc = real_popen(*args, **kwargs)
        started.append(proc)
        signal.raise_signal(sig)
        return proc

    def stop(signum, _frame):
        raise SystemExit(128 + signum)
    monkeypatch.setattr(recorder.subprocess, "Popen", popen_then_signal)
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        with pytest.raises((KeyboardInterrupt, SystemExit)):
            with recorder.busy_loops(2):
                pytest.fail("the block ran although a signal came as the loops started")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert len(started) == 1  # the interruption stopped the starting, after the first loop
    assert [p.pid for p in started if _alive(p.pid)] == []


def test_busy_loops_run_during_the_block_and_stop_after_it():
    with recorder.busy_loops(2) as hogs:
        assert len(hogs) == 2 and all(_alive(h.pid) for h in hogs)
    assert [h.pid for h in hogs if _alive(h.pid)] == []
