"""The `rewind` console script, run as a process."""

from __future__ import annotations

import configparser
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import List, Optional

import pytest
import zmq

import rewind.client as clients
from conftest import Endpoints

SCRIPT = str(Path(sys.executable).parent / "rewind")


def start(args: List[str], cwd: Optional[Path] = None) -> subprocess.Popen:
    return subprocess.Popen(
        [SCRIPT] + args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=str(cwd) if cwd else None,
    )


def wait_ready(proc: subprocess.Popen, timeout: float = 20.0) -> str:
    """Reads stderr until the ready line; returns what was read."""
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline().decode()
        if not line:
            break
        seen.append(line)
        if "rewind is ready" in line:
            return "".join(seen)
    proc.kill()
    raise AssertionError("not ready: " + "".join(seen))


def finish(proc: subprocess.Popen, timeout: float = 20.0) -> str:
    _, err = proc.communicate(timeout=timeout)
    return err.decode()


def write_config(path: Path, endpoints: Endpoints, store: Optional[dict] = None) -> Path:
    config = configparser.ConfigParser()
    config["general"] = {
        "query-bind-endpoint": endpoints.query,
        "streaming-bind-endpoint": endpoints.streaming,
    }
    if store is not None:
        config["general"]["storage-backend"] = "store"
        config["store"] = store
    with open(path, "w") as f:
        config.write(f)
    return path


def test_help() -> None:
    out = subprocess.run([SCRIPT, "--help"], capture_output=True, timeout=30)
    assert out.returncode == 0
    text = out.stdout.decode()
    assert "configfile" in text and "--exit-codeword" in text
    assert "Event storage and event proxy." in text


def test_config_file_and_exit_codeword(tmp_path: Path, ctx: zmq.Context, endpoints: Endpoints) -> None:
    conf = write_config(
        tmp_path / "rewind.conf",
        endpoints,
        {"class": "rewind.server.eventstores.SQLiteEventStore", "path": str(tmp_path / "db.sqlite")},
    )
    proc = start([str(conf), "--exit-codeword", "X"])
    ready = wait_ready(proc)
    assert endpoints.query in ready and "SQLiteEventStore" in ready
    req = ctx.socket(zmq.REQ)
    req.setsockopt(zmq.RCVTIMEO, 10000)
    req.connect(endpoints.query)
    clients.publish_event(req, b"through the command")
    assert [d for _, d in clients.query_events(req)] == [b"through the command"]
    req.send(b"X")
    assert req.recv_multipart() == [b"QUIT"]
    req.close(linger=0)
    finish(proc)
    assert proc.returncode == 0
    assert "db.sqlite" in (tmp_path / "checksums.md5").read_text()


def test_the_original_example_config_with_inline_comment(
    tmp_path: Path, ctx: zmq.Context, endpoints: Endpoints
) -> None:
    conf = tmp_path / "my.conf"
    conf.write_text(
        textwrap.dedent(
            """\
            [general]
            query-bind-endpoint={q}
            streaming-bind-endpoint={s}
            zmq-nthreads=3
            storage-backend=mystore          ; optional: without it, events live in memory

            [mystore]
            class=rewind.server.eventstores.SQLiteEventStore
            path={db}
            """
        ).format(q=endpoints.query, s=endpoints.streaming, db=tmp_path / "db.sqlite")
    )
    proc = start([str(conf), "--exit-codeword", "EXIT"])
    wait_ready(proc)
    req = ctx.socket(zmq.REQ)
    req.connect(endpoints.query)
    clients.publish_event(req, b"x")
    req.send(b"EXIT")
    assert req.recv() == b"QUIT"
    req.close(linger=0)
    finish(proc)
    assert proc.returncode == 0 and (tmp_path / "db.sqlite").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signals_stop_gracefully(sig: int, tmp_path: Path, endpoints: Endpoints) -> None:
    conf = write_config(
        tmp_path / "rewind.conf",
        endpoints,
        {"class": "rewind.server.eventstores.LogEventStore", "path": str(tmp_path / "log")},
    )
    proc = start([str(conf)])
    wait_ready(proc)
    proc.send_signal(sig)
    err = finish(proc)
    assert proc.returncode == 0, err
    # The store was closed properly: its checksum is recorded.
    assert "log " in (tmp_path / "checksums.md5").read_text()


def test_no_config_file_serves_lmdb_with_overrides(
    tmp_path: Path, ctx: zmq.Context, endpoints: Endpoints
) -> None:
    proc = start(
        [
            "--exit-codeword",
            "BYE",
            "--query-bind-endpoint",
            endpoints.query,
            "--streaming-bind-endpoint",
            "",
            "--command-bind-endpoint",
            endpoints.command,
            "--publish-bind-endpoint",
            "",
            "--native-bind-endpoint",
            "",
            "--map-size-limit",
            "64M",
        ],
        cwd=tmp_path,
    )
    ready = wait_ready(proc)
    assert "rewind-data" in ready and endpoints.command in ready and "streaming" not in ready
    dealer = ctx.socket(zmq.DEALER)
    dealer.connect(endpoints.command)
    dealer.send_multipart([b"", b"PUBLISH", b"s", b"v2 event"])
    assert dealer.recv_multipart()[:2] == [b"", b"PUBLISHED"]
    dealer.send_multipart([b"", b"BYE"])
    assert dealer.recv_multipart() == [b"", b"QUIT"]
    dealer.close(linger=0)
    finish(proc)
    assert proc.returncode == 0
    assert (tmp_path / "rewind-data").is_dir()


def test_data_dir_and_in_memory(tmp_path: Path, ctx: zmq.Context, endpoints: Endpoints) -> None:
    for extra, expect in (
        (["--data-dir", str(tmp_path / "elsewhere")], "elsewhere"),
        (["--in-memory"], "in-memory"),
    ):
        proc = start(
            extra + ["--exit-codeword", "Q", "--query-bind-endpoint", endpoints.query,
                     "--streaming-bind-endpoint", "", "--command-bind-endpoint", "",
                     "--publish-bind-endpoint", "", "--native-bind-endpoint", ""],
            cwd=tmp_path,
        )
        assert expect in wait_ready(proc)
        req = ctx.socket(zmq.REQ)
        req.connect(endpoints.query)
        req.send(b"Q")
        assert req.recv() == b"QUIT"
        req.close(linger=0)
        finish(proc)
        assert proc.returncode == 0
    assert not (tmp_path / "rewind-data").exists()


def test_configuration_error_is_one_line_and_status_1(tmp_path: Path, endpoints: Endpoints) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("[general]\nstreaming-bind-endpoint={0}\n".format(endpoints.streaming))
    out = subprocess.run([SCRIPT, str(conf)], capture_output=True, timeout=30)
    assert out.returncode == 1
    err = out.stderr.decode()
    assert "configuration error" in err and "query-bind-endpoint" in err
    assert "Traceback" not in err


def test_missing_config_file(tmp_path: Path) -> None:
    out = subprocess.run([SCRIPT, str(tmp_path / "absent.conf")], capture_output=True, timeout=30)
    assert out.returncode == 1 and b"Traceback" not in out.stderr


def test_non_integer_zmq_nthreads_exits_1(tmp_path: Path, endpoints: Endpoints) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text(
        "[general]\nquery-bind-endpoint={0}\nzmq-nthreads=three\n".format(endpoints.query)
    )
    out = subprocess.run([SCRIPT, str(conf)], capture_output=True, timeout=30)
    assert out.returncode == 1
    assert b"zmq-nthreads" in out.stderr


def test_map_size_limit_needs_an_lmdb_store(tmp_path: Path, endpoints: Endpoints) -> None:
    out = subprocess.run(
        [SCRIPT, "--in-memory", "--map-size-limit", "1G", "--query-bind-endpoint", endpoints.query],
        capture_output=True,
        timeout=30,
        cwd=str(tmp_path),
    )
    assert out.returncode == 1 and b"LMDB" in out.stderr


def test_run_in_the_main_thread_stops_on_ctrl_c(tmp_path: Path, endpoints: Endpoints) -> None:
    # rewind.server.main.run itself: Ctrl-C stops the server and raises
    # KeyboardInterrupt in the caller.
    code = textwrap.dedent(
        """\
        import configparser, sys
        from rewind.server import main
        config = configparser.ConfigParser()
        config["general"] = {{"query-bind-endpoint": "{q}"}}
        main.logging.basicConfig(level="INFO")
        try:
            main.run(config)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(0)
        sys.exit(3)
        """
    ).format(q=endpoints.query)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    wait_ready(proc)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0 and out.strip() == b"interrupted"


def test_python_m_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "rewind.server.main", "--help"], capture_output=True, timeout=30
    )
    assert out.returncode == 0 and b"--exit-codeword" in out.stdout
    assert os.path.exists(SCRIPT)
