"""A private JACK server on the dummy driver (real time pace, no sound card) that tests can kill.

Facts that cost time: a SIGKILLed jackd leaves its name registered in /dev/shm/jack-shm-registry, which
has 8 server slots per user ("Too many servers already active" after 8 such kills). Only a server of the
same name reclaims the slot, and only once the killed one was reaped (a zombie still "exists"). So the
killed server is waited for, and every test ends with a server of its name started and stopped cleanly
(SIGTERM unregisters it).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from pathlib import Path

JACKD_ARGS = ["--no-realtime", "-d", "dummy", "-r", "48000", "-p", "1024"]


def missing() -> str | None:
    """Why a JACK server cannot be run here, or None."""
    for tool in ("jackd", "jack_wait"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install --no-install-recommends jackd2)"
    return None


class JackServer:
    def __init__(self, log_dir: Path, name: str | None = None):
        self.name = name or f"bls-device-{uuid.uuid4().hex[:10]}"
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.killed = False

    @property
    def env(self) -> dict[str, str]:
        return {"JACK_DEFAULT_SERVER": self.name}

    def start(self, timeout_s: float = 10.0) -> None:
        env = dict(os.environ, **self.env)
        self.starts += 1
        log = open(self.log_dir / f"jackd-{self.starts}.log", "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(["jackd", *JACKD_ARGS], env=env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        ok = subprocess.run(["jack_wait", "-w", "-t", str(int(timeout_s))], env=env, capture_output=True,
                            timeout=timeout_s + 5).returncode == 0
        if not ok or self.proc.poll() is not None:
            text = (self.log_dir / f"jackd-{self.starts}.log").read_text(errors="replace")
            self.stop()
            raise RuntimeError(f"jackd {self.name} did not start:\n{text}")
        self.killed = False

    def kill(self) -> None:
        """SIGKILL, as when the server crashes; reaped at once (a zombie keeps the name taken)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.killed = True

    def stop(self) -> None:
        """SIGTERM (the server unregisters its name), SIGKILL after 5 s."""
        p = self.proc
        if p is None or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=5)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=5)

    def close(self) -> None:
        """Tear down; a server left killed is started and stopped once more to free its registry slot."""
        try:
            self.stop()
            if self.killed:
                try:
                    self.start(timeout_s=5)
                finally:
                    self.stop()
        except Exception:  # noqa: BLE001 - teardown never hides the test's own failure
            if self.proc is not None and self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
