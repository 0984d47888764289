"""ZeroMQ CURVE through the Python command's configuration file: the keys of
`[general]` reach the core, an allowed client is served, another key gets
nothing and its refusal is logged, a bad key is a configuration error."""

from __future__ import annotations

import configparser
import subprocess
from pathlib import Path
from typing import Dict, Tuple

import zmq

import rewind.client as clients
from conftest import Endpoints
from test_cli import SCRIPT, finish, start, wait_ready


def keypair() -> Tuple[str, str]:
    public, secret = zmq.curve_keypair()
    return public.decode(), secret.decode()


def ini_value(key: str) -> str:
    """A Z85 key as a ConfigParser value: `%` is written `%%`."""
    return key.replace("%", "%%")


def write_curve_config(path: Path, endpoints: Endpoints, general: Dict[str, str]) -> Path:
    config = configparser.ConfigParser()
    config["general"] = {"query-bind-endpoint": endpoints.query}
    config["general"].update({k: ini_value(v) for k, v in general.items()})
    with open(path, "w") as f:
        config.write(f)
    return path


def curve_req(ctx: zmq.Context, endpoint: str, server_public: str, pair: Tuple[str, str]) -> zmq.Socket:
    s = ctx.socket(zmq.REQ)
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 10000)
    s.curve_serverkey = server_public.encode()
    s.curve_publickey = pair[0].encode()
    s.curve_secretkey = pair[1].encode()
    s.connect(endpoint)
    return s


def test_the_config_file_turns_curve_on(tmp_path: Path, ctx: zmq.Context, endpoints: Endpoints) -> None:
    assert zmq.has("curve"), "pyzmq's libzmq has no CURVE: the test clients need it"
    server_public, server_secret = keypair()
    alice, mallory = keypair(), keypair()
    conf = write_curve_config(
        tmp_path / "rewind.conf",
        endpoints,
        {
            "curve-secret-key": server_secret,
            "curve-public-key": server_public,
            "curve-allowed-clients": alice[0],
        },
    )
    proc = start([str(conf), "--exit-codeword", "EXIT"])
    ready = wait_ready(proc)
    assert "CURVE on, 1 allowed client key(s)" in ready

    intruder = curve_req(ctx, endpoints.query, server_public, mallory)
    intruder.send_multipart([b"PUBLISH", b"sneaked in"])
    assert intruder.poll(1500) == 0, "a client with another key got a reply"
    intruder.close()

    req = curve_req(ctx, endpoints.query, server_public, alice)
    clients.publish_event(req, b"from alice")
    assert [d for _, d in clients.query_events(req)] == [b"from alice"]
    req.send(b"EXIT")
    assert req.recv_multipart() == [b"QUIT"]
    req.close()
    err = finish(proc)
    assert proc.returncode == 0, err
    assert "its key {0} is not on curve-allowed-clients".format(mallory[0]) in err, err


def test_a_bad_key_is_a_configuration_error(tmp_path: Path, endpoints: Endpoints) -> None:
    conf = write_curve_config(
        tmp_path / "rewind.conf",
        endpoints,
        {"curve-secret-key": "not-a-key", "curve-allowed-clients": keypair()[0]},
    )
    out = subprocess.run([SCRIPT, str(conf)], capture_output=True, timeout=30)
    assert out.returncode == 1
    lines = out.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "curve-secret-key must be a CURVE key in Z85" in lines[0], lines
