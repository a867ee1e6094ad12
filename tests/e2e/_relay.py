"""Relay nodes for the tests: ``bls relay`` processes (the real command), a Redis server of the test's
own, and a small TCP balancer in front of the nodes (as a practice's load balancer would be), which
hands each new connection to the next node that accepts it."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request

from .conftest import REPO, base_env, bls_command

KEY = "test-key-" + "k" * 32
WAIT = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _until(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class RedisServer:
    def __init__(self, folder):
        exe = shutil.which("redis-server")
        if exe is None:
            raise FileNotFoundError("redis-server")
        self.port = free_port()
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(folder)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        _until(self._up, WAIT, "redis-server")

    def _up(self) -> bool:
        assert self.proc.poll() is None, "redis-server exited"
        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(5)


class RelayNode:
    """One ``bls relay`` process on a free port (with ``redis``: sharing rooms through it)."""

    def __init__(self, redis_url: str | None = None, keys: str = KEY):
        self.port = free_port()
        cmd = bls_command() + ["relay", "--port", str(self.port)]
        if redis_url:
            cmd += ["--redis", redis_url]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=base_env(BLS_RELAY_KEYS=keys),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.base = f"http://127.0.0.1:{self.port}"
        _until(self.healthy, 20.0, "the relay node to answer /healthz")

    def healthy(self) -> bool:
        assert self.proc.poll() is None, self.proc.communicate()[1]
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=1.0) as r:
                return r.status == 200
        except OSError:
            return False

    def connections(self) -> int:
        """The WebSockets open on this node, as its /healthz says."""
        with urllib.request.urlopen(self.base + "/healthz", timeout=2.0) as r:
            return json.loads(r.read())["connections"]

    def kill(self) -> None:
        """SIGKILL: the node dies with its connections, as a crashed machine would."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.stderr.read() if self.proc.stderr else ""


class Balancer:
    """A TCP balancer on its own thread: each new connection goes to the next node in turn that
    accepts it (a node that refuses, or died, is skipped). ``served`` lists (node index, open?)."""

    def __init__(self, ports: list[int]):
        self.ports = list(ports)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._next = 0
        self.served: list[int] = []
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(ready,), daemon=True)
        self._thread.start()
        assert ready.wait(WAIT)

    def _main(self, ready) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port))
        ready.set()
        self._loop.run_forever()

    async def _handle(self, reader, writer) -> None:
        upstream = None
        for _ in range(len(self.ports)):
            i = self._next % len(self.ports)
            self._next += 1
            try:
                upstream = await asyncio.open_connection("127.0.0.1", self.ports[i])
                self.served.append(i)
                break
            except OSError:
                continue
        if upstream is None:
            writer.close()
            return
        up_reader, up_writer = upstream

        async def pipe(src, dst):
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                try:
                    dst.close()
                except OSError:
                    pass

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def stop(self) -> None:
        def close():
            self._server.close()
            self._loop.stop()
        self._loop.call_soon_threadsafe(close)
        self._thread.join(WAIT)
