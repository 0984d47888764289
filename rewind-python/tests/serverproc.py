"""A Rewind server run as a separate process for the tests of `rewind.Client`
and of `rewind.eventsourcing` against a server.

The server is the package's `rewind` console script (the core's server, as
the `rewind` binary of `rewind-cli` runs it); set ``REWIND_SERVER_BIN`` to
run another build of the binary instead (for instance
``target/debug/rewind``). Every endpoint is on a loopback port the server
picks itself (a wildcard port, read back from its ready line), so servers
of several tests never race for a port; the native endpoint stays the same
across `restart`, as a client expects of a server that comes back.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Union

import rewind

READY = "rewind is ready"
ANY_PORT = "tcp://127.0.0.1:*"


def server_command() -> List[str]:
    """The command that starts a server."""
    override = os.environ.get("REWIND_SERVER_BIN")
    if override:
        return [override]
    return [str(Path(sys.executable).parent / "rewind")]


class ServerProcess:
    """A running server. `data_dir=None` serves an in-memory store (lost on
    restart); `extra` are more command-line flags (CURVE keys)."""

    def __init__(self, data_dir: Optional[Path] = None, extra: Sequence[str] = ()) -> None:
        self.data_dir = data_dir
        self.extra = list(extra)
        #: The native endpoint: a wildcard until the first start binds it.
        self.endpoint = ANY_PORT
        self._log_dir = tempfile.mkdtemp(prefix="rewind-server-log-")
        self._runs = 0
        self.proc: Optional[subprocess.Popen] = None
        self.start()

    def _args(self) -> List[str]:
        args = server_command() + ["--native-bind-endpoint", self.endpoint]
        for flag in ["query", "streaming", "command", "publish"]:
            args += ["--{0}-bind-endpoint".format(flag), ANY_PORT]
        if self.data_dir is None:
            args.append("--in-memory")
        else:
            args += ["--data-dir", str(self.data_dir)]
        return args + self.extra

    @property
    def log_path(self) -> Path:
        return Path(self._log_dir) / "server-{0}.log".format(self._runs)

    def log(self) -> str:
        """What the current (or last) run wrote to stderr."""
        return self.log_path.read_text(errors="replace")

    def start(self, timeout: float = 30.0) -> None:
        """Starts the server and waits for its ready line."""
        assert self.proc is None, "already running"
        self._runs += 1
        with open(self.log_path, "wb") as err:
            self.proc = subprocess.Popen(self._args(), stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = re.search(READY + r".*\n", self.log())
            if ready:
                native = re.search(r"native (tcp://[^;,\s]+)", ready.group(0))
                assert native, "no native endpoint in the ready line: " + ready.group(0)
                self.endpoint = native.group(1)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.kill()
        raise AssertionError("the server did not start:\n" + self.log())

    def stop(self, timeout: float = 30.0) -> None:
        """Stops the server gracefully (SIGTERM) and checks it exited with 0."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("the server did not stop on SIGTERM:\n" + self.log())
        assert code == 0, "the server exited with {0}:\n{1}".format(code, self.log())

    def kill(self) -> None:
        """Kills the server at once (SIGKILL), if it runs."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.wait()

    def restart(self) -> None:
        """Stops the server and starts it again on the same native endpoint
        and data directory."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stops the server if it runs (tests' clean-up: never raises)."""
        try:
            self.stop()
        except AssertionError:
            pass
        finally:
            self.kill()


@contextmanager
def event_store(kind: str, tmp_path: Path) -> Iterator[Union[rewind.Store, rewind.Client]]:
    """An empty event store of one kind, closed afterwards: ``"memory"`` and
    ``"lmdb"`` (a `rewind.Store`), or ``"remote"`` (a `rewind.Client` of a
    fresh server process), so that one test runs against each."""
    if kind == "memory":
        with rewind.Store.in_memory() as store:
            yield store
    elif kind == "lmdb":
        with rewind.Store(tmp_path / "db") as store:
            yield store
    elif kind == "remote":
        server = ServerProcess()
        try:
            with rewind.Client(server.endpoint) as client:
                yield client
        finally:
            server.close()
    else:
        raise ValueError(kind)


def curve_flags(server_public: str, server_secret: str, *allowed: str) -> List[str]:
    """The flags that make a server require CURVE, with its key pair and
    the public keys of the clients it admits."""
    return [
        "--curve-secret-key",
        server_secret,
        "--curve-public-key",
        server_public,
        "--curve-allowed-clients",
        ",".join(allowed),
    ]
