"""Shared fixtures: free loopback ports, the server run in a thread, and a
thread that shows whether a call lets go of the GIL."""

from __future__ import annotations

import configparser
import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest
import zmq

import rewind.server.main as main

EXIT = "EXIT"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_config(sections: Dict[str, Dict[str, str]]) -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read_dict(sections)
    return config


class Endpoints:
    """Four fresh loopback endpoints."""

    def __init__(self) -> None:
        self.query = "tcp://127.0.0.1:{0}".format(free_port())
        self.streaming = "tcp://127.0.0.1:{0}".format(free_port())
        self.command = "tcp://127.0.0.1:{0}".format(free_port())
        self.publish = "tcp://127.0.0.1:{0}".format(free_port())

    def general(self, **extra: str) -> Dict[str, str]:
        general = {
            "query-bind-endpoint": self.query,
            "streaming-bind-endpoint": self.streaming,
            "command-bind-endpoint": self.command,
            "publish-bind-endpoint": self.publish,
        }
        general.update(extra)
        return general


def wait_for_req(endpoint: str, ctx: zmq.Context, timeout: float = 10.0) -> None:
    """Waits until a server answers on a v1 query endpoint (an unknown
    request gets an ERROR reply)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        s.send(b"PING")
        if s.poll(200):
            s.recv_multipart()
            s.close()
            return
        s.close()
    raise AssertionError("no server answered on {0}".format(endpoint))


@contextmanager
def spinning() -> Iterator[List[int]]:
    """Another Python thread counting as fast as it can while the block
    runs: the count is high only if the block let go of the GIL."""
    counter = [0]
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            counter[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        yield counter
    finally:
        stop.set()
        t.join()


class ServerThread(threading.Thread):
    """Runs `rewind.server.main.run` (or `main`) in a thread; `stop` sends
    the exit codeword."""

    def __init__(self, target: Callable[..., int], *args: Any) -> None:
        super().__init__(name="rewind-test-server", daemon=True)
        self._target_fn = target
        self._args = args
        self.exit_code: Optional[int] = None
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            self.exit_code = self._target_fn(*self._args)
        except BaseException as e:  # reported to the test
            self.error = e

    def stop(self, endpoint: str, ctx: zmq.Context, codeword: str = EXIT) -> None:
        s = ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        s.send(codeword.encode())
        assert s.poll(10000), "no reply to the exit codeword"
        assert s.recv_multipart() == [b"QUIT"]
        s.close()
        self.join(10)
        assert not self.is_alive(), "the server did not stop"
        if self.error is not None:
            raise self.error


@pytest.fixture
def ctx() -> Iterator[zmq.Context]:
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


@pytest.fixture
def endpoints() -> Endpoints:
    return Endpoints()


class Running:
    """A server started by the `serve` fixture."""

    def __init__(self, thread: ServerThread, endpoints: Endpoints, ctx: zmq.Context):
        self.thread = thread
        self.endpoints = endpoints
        self.ctx = ctx
        self.sockets: List[zmq.Socket] = []

    def socket(self, kind: int, endpoint: str) -> zmq.Socket:
        s = self.ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, 10000)
        if kind == zmq.SUB:
            s.setsockopt(zmq.SUBSCRIBE, b"")
        s.connect(endpoint)
        self.sockets.append(s)
        return s

    def req(self) -> zmq.Socket:
        return self.socket(zmq.REQ, self.endpoints.query)

    def sub(self) -> zmq.Socket:
        return self.socket(zmq.SUB, self.endpoints.streaming)

    def dealer(self) -> zmq.Socket:
        return self.socket(zmq.DEALER, self.endpoints.command)

    def stop(self) -> None:
        for s in self.sockets:
            s.close()
        self.sockets = []
        self.thread.stop(self.endpoints.query, self.ctx)
        assert self.thread.exit_code == 0


@pytest.fixture
def serve(ctx: zmq.Context, endpoints: Endpoints) -> Iterator[Callable[..., Running]]:
    """Starts `run(config, EXIT)` in a thread for a config given as a dict of
    sections (the four endpoints are added to [general])."""
    started: List[Running] = []

    def start(sections: Optional[Dict[str, Dict[str, str]]] = None) -> Running:
        sections = dict(sections or {})
        general = dict(sections.pop("general", {}))
        sections["general"] = endpoints.general(**general)
        thread = ServerThread(main.run, make_config(sections), EXIT)
        thread.start()
        wait_for_req(endpoints.query, ctx)
        running = Running(thread, endpoints, ctx)
        started.append(running)
        return running

    yield start
    for running in started:
        if running.thread.is_alive():
            running.stop()
