"""rewind.server.main.run: the Rust server in-process, driven by real pyzmq
sockets (REQ/SUB for v1, DEALER for v2) on loopback."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Callable, List

import pytest
import zmq

import rewind
import userstore
from conftest import EXIT, Endpoints, Running, ServerThread, make_config, spinning, wait_for_req
from rewind.server import config as rconfig
from rewind.server import main

UUID = re.compile(rb"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def publish(req: zmq.Socket, data: bytes) -> None:
    req.send_multipart([b"PUBLISH", data])
    assert req.recv_multipart() == [b"PUBLISHED"]


def query(req: zmq.Socket, from_: bytes = b"", to: bytes = b"") -> List[bytes]:
    req.send_multipart([b"QUERY", from_, to])
    return req.recv_multipart()


def streamed(sub: zmq.Socket, n: int) -> List[List[bytes]]:
    return [sub.recv_multipart() for _ in range(n)]


def dealer_request(dealer: zmq.Socket, *frames: bytes) -> List[List[bytes]]:
    """Sends a v2 request and collects its reply messages (up to END or
    ERROR, or the single PUBLISHED)."""
    dealer.send_multipart([b""] + list(frames))
    replies = []
    while True:
        msg = dealer.recv_multipart()
        assert msg[0] == b""
        replies.append(msg[1:])
        if msg[1] in (b"END", b"PUBLISHED") or msg[1].startswith(b"ERROR"):
            return replies


STORES = {
    "none": {},
    "InMemoryEventStore": {"class": "rewind.server.eventstores.InMemoryEventStore"},
    "LMDBEventStore": {"class": "rewind.server.eventstores.LMDBEventStore", "path": "{tmp}/lmdb"},
    "SQLiteEventStore": {
        "class": "rewind.server.eventstores.SQLiteEventStore",
        "path": "{tmp}/db.sqlite",
    },
    "LogEventStore": {"class": "rewind.server.eventstores.LogEventStore", "path": "{tmp}/log"},
    "RotatedEventStore": {
        "class": "rewind.server.eventstores.RotatedEventStore",
        "realclass": "rewind.server.eventstores.LogEventStore",
        "path": "{tmp}/rot",
        "prefix": "appendlog",
    },
    "user": {"class": "userstore.ListEventStore", "label": "served"},
}


def sections_for(name: str, tmp: Path) -> dict:
    if name == "none":
        return {}
    store = {k: v.format(tmp=tmp) for k, v in STORES[name].items()}
    return {"general": {"storage-backend": "store"}, "store": store}


@pytest.fixture(params=sorted(STORES))
def running(request: pytest.FixtureRequest, serve: Callable[..., Running], tmp_path: Path) -> Running:
    return serve(sections_for(request.param, tmp_path))


def test_v1_publish_stream_and_query(running: Running) -> None:
    req, sub = running.req(), running.sub()
    time.sleep(0.3)  # let the subscription reach the server
    publish(req, b"THIS IS AN EVENT")
    publish(req, b"\x00\xff binary")
    (id1, prev1, data1), (id2, prev2, data2) = streamed(sub, 2)
    assert UUID.match(id1) and UUID.match(id2) and id1 != id2
    assert (prev1, data1) == (b"", b"THIS IS AN EVENT")
    assert (prev2, data2) == (id1, b"\x00\xff binary")
    assert query(req) == [id1, data1, id2, data2, b"END"]
    assert query(req, id1) == [id2, data2, b"END"]
    assert query(req, b"", id1) == [id1, data1, b"END"]
    assert query(req, id1, id1) == [b"END"]


def test_v1_replies_are_capped_at_100_events(running: Running) -> None:
    req = running.req()
    for i in range(150):
        publish(req, b"event %d" % i)
    first = query(req)
    assert len(first) == 200 and first[-1] != b"END"
    assert first[1::2] == [b"event %d" % i for i in range(100)]
    rest = query(req, first[-2])
    assert rest[-1] == b"END" and rest[1:-1:2] == [b"event %d" % i for i in range(100, 150)]


def test_v1_errors_never_stop_the_server(running: Running) -> None:
    req = running.req()
    publish(req, b"a")
    publish(req, b"b")
    ids = query(req)[0:4:2]
    for frames in (
        [b"QUERY", b"no-such-id", b""],
        [b"QUERY", b"", b"no-such-id"],
        [b"QUERY", ids[1], ids[0]],
        [b"NONSENSE"],
        [b"QUERY", b"only one"],
        [b"PUBLISH"],
    ):
        req.send_multipart(frames)
        reply = req.recv_multipart()
        assert len(reply) == 1 and reply[0].startswith(b"ERROR "), (frames, reply)
    publish(req, b"still serving")


def test_v2_dealer_and_both_protocols_share_events(running: Running) -> None:
    req, dealer = running.req(), running.dealer()
    publish(req, b"from v1")
    [[word, v2_id]] = dealer_request(dealer, b"PUBLISH", b"default", b"from v2")
    assert word == b"PUBLISHED" and UUID.match(v2_id)
    v1 = query(req)
    assert v1[1::2][:2] == [b"from v1", b"from v2"] and v1[2] == v2_id
    replies = dealer_request(dealer, b"QUERY", b"default", b"", b"")
    assert replies == [[b"EVENT", v1[0], b"from v1"], [b"EVENT", v2_id, b"from v2"], [b"END"]]
    [[error]] = dealer_request(dealer, b"QUERY", b"default", b"unknown", b"")
    assert error.startswith(b"ERROR ")


def test_v2_publish_socket(running: Running) -> None:
    pub = running.socket(zmq.SUB, running.endpoints.publish)
    time.sleep(0.3)
    publish(running.req(), b"seen on v2")
    stream, eid, data = pub.recv_multipart()
    assert (stream, data) == (b"default", b"seen on v2") and UUID.match(eid)


def test_started_and_stopped_several_times_in_one_process(
    ctx: zmq.Context, endpoints: Endpoints, tmp_path: Path
) -> None:
    sections = sections_for("SQLiteEventStore", tmp_path)
    sections["general"].update(endpoints.general())
    published = []
    for round_ in range(3):
        thread = ServerThread(main.run, make_config(sections), EXIT)
        thread.start()
        wait_for_req(endpoints.query, ctx)
        req = ctx.socket(zmq.REQ)
        req.setsockopt(zmq.RCVTIMEO, 10000)
        req.connect(endpoints.query)
        data = b"round %d" % round_
        publish(req, data)
        published.append(data)
        reply = query(req)
        assert reply[1:-1:2] == published  # the file keeps earlier rounds
        req.close(linger=0)
        thread.stop(endpoints.query, ctx)
        assert thread.exit_code == 0
    assert "db.sqlite" in (tmp_path / "checksums.md5").read_text()


def test_exit_codeword_on_the_command_endpoint(
    ctx: zmq.Context, endpoints: Endpoints
) -> None:
    thread = ServerThread(main.run, make_config({"general": endpoints.general()}), "STOP NOW")
    thread.start()
    wait_for_req(endpoints.query, ctx)
    dealer = ctx.socket(zmq.DEALER)
    dealer.connect(endpoints.command)
    dealer.send_multipart([b"", b"STOP NOW"])
    assert dealer.recv_multipart() == [b"", b"QUIT"]
    dealer.close(linger=0)
    thread.join(10)
    assert not thread.is_alive() and thread.exit_code == 0


def test_other_python_threads_run_while_serving(serve: Callable[..., Running]) -> None:
    running = serve()
    with spinning() as counter:
        time.sleep(0.3)
    assert counter[0] > 10000
    assert running.thread.is_alive()


def test_a_users_event_store_is_served(serve: Callable[..., Running]) -> None:
    userstore.INSTANCES.clear()
    running = serve(
        userstore.config_sections(
            {"class": "userstore.ListEventStore", "label": "wire", "preload": "3"}
        )
    )
    [estore] = userstore.INSTANCES
    req, sub = running.req(), running.sub()
    time.sleep(0.3)
    reply = query(req)
    assert reply == [
        b"pre-0", b"preloaded 0", b"pre-1", b"preloaded 1", b"pre-2", b"preloaded 2", b"END"
    ]
    publish(req, b"new event")
    [(eid, prev, data)] = streamed(sub, 1)
    assert prev == b"pre-2" and data == b"new event"
    assert estore.events[-1] == (eid.decode(), b"new event")
    assert query(req, b"pre-1") == [b"pre-2", b"preloaded 2", eid, b"new event", b"END"]
    assert query(req, b"pre-0", b"pre-1") == [b"pre-1", b"preloaded 1", b"END"]
    assert query(req, b"nope")[0].startswith(b"ERROR")
    # Its one stream is the default stream; v2 sees it, other streams are refused.
    dealer = running.dealer()
    events = dealer_request(dealer, b"QUERY", b"default", b"pre-2", b"")
    assert events == [[b"EVENT", eid, b"new event"], [b"END"]]
    [[error]] = dealer_request(dealer, b"PUBLISH", b"elsewhere", b"x")
    assert error.startswith(b"ERROR")
    assert "add_event" in estore.calls and "get_events" in estore.calls
    running.stop()
    assert estore.closed


def test_a_failing_users_store_answers_errors(serve: Callable[..., Running]) -> None:
    userstore.INSTANCES.clear()
    running = serve(userstore.config_sections({"class": "userstore.FailingEventStore"}))
    req = running.req()
    req.send_multipart([b"PUBLISH", b"fail please"])
    [reply] = req.recv_multipart()
    assert reply.startswith(b"ERROR") and b"refused" in reply
    publish(req, b"fine")
    reply = query(req)
    assert reply[1::2] == [b"fine"] and reply[-1] == b"END"
    assert [e for _, e in userstore.INSTANCES[0].events] == [b"fine"]


def test_lmdb_store_can_be_read_while_served(serve: Callable[..., Running], tmp_path: Path) -> None:
    running = serve(sections_for("LMDBEventStore", tmp_path))
    req = running.req()
    for i in range(5):
        publish(req, b"%d" % i)
    with rewind.Store(tmp_path / "lmdb", read_only=True) as reader:
        assert [e.data for e in reader.iter_stream(b"default")] == [b"0", b"1", b"2", b"3", b"4"]


def test_default_stream_option(serve: Callable[..., Running], tmp_path: Path) -> None:
    sections = sections_for("LMDBEventStore", tmp_path)
    sections["general"]["default-stream"] = "orders"
    running = serve(sections)
    publish(running.req(), b"order 1")
    running.stop()
    with rewind.Store(tmp_path / "lmdb") as s:
        assert [e.data for e in s.read_stream(b"orders")] == [b"order 1"]


# Configuration errors: raised, or 1 returned, exactly where the original did.


def test_missing_general_section_raises() -> None:
    with pytest.raises(rconfig.ConfigurationError):
        main.run(make_config({}))
    with pytest.raises(rconfig.ConfigurationError):
        main.run(make_config({"other": {"a": "b"}}), EXIT)


def test_missing_query_endpoint_raises(endpoints: Endpoints) -> None:
    with pytest.raises(rconfig.ConfigurationError) as info:
        main.run(make_config({"general": {"streaming-bind-endpoint": endpoints.streaming}}))
    assert "query-bind-endpoint" in info.value.what


def test_non_integer_zmq_nthreads_returns_1(endpoints: Endpoints) -> None:
    config = make_config(
        {"general": {"query-bind-endpoint": endpoints.query, "zmq-nthreads": "not-an-integer"}}
    )
    assert main.run(config, EXIT) == 1


def test_broken_store_section_raises_and_creates_nothing(
    endpoints: Endpoints, tmp_path: Path
) -> None:
    for store in (
        {"class": "rewind.server.eventstores.SQLiteEventStore"},  # no path
        {"path": str(tmp_path / "x")},  # no class
        {"class": "rewind.server.eventstores.LMDBEventStore"},  # no path
    ):
        config = make_config(
            {
                "general": {"query-bind-endpoint": endpoints.query, "storage-backend": "s"},
                "s": store,
            }
        )
        with pytest.raises(rconfig.ConfigurationError):
            main.run(config, EXIT)
    with pytest.raises(rconfig.ConfigurationError):
        main.run(
            make_config(
                {"general": {"query-bind-endpoint": endpoints.query, "storage-backend": "gone"}}
            )
        )
    assert os.listdir(tmp_path) == []


def test_an_endpoint_that_cannot_be_bound_raises(endpoints: Endpoints, tmp_path: Path) -> None:
    config = make_config(
        {
            "general": {
                "query-bind-endpoint": "tcp://256.1.1.1:1",
                "storage-backend": "s",
            },
            "s": {
                "class": "rewind.server.eventstores.SQLiteEventStore",
                "path": str(tmp_path / "db.sqlite"),
            },
        }
    )
    with pytest.raises(rconfig.ConfigurationError):
        main.run(config, EXIT)
    # The Python store it opened was closed again.
    assert "db.sqlite" in (tmp_path / "checksums.md5").read_text()


def test_interpolated_and_default_values(serve: Callable[..., Running], tmp_path: Path) -> None:
    # ConfigParser's DEFAULT section and %(name)s interpolation work as before.
    running = serve(
        {
            "DEFAULT": {"base": str(tmp_path)},
            "general": {"storage-backend": "s"},
            "s": {"class": "rewind.server.eventstores.LMDBEventStore", "path": "%(base)s/lmdb"},
        }
    )
    publish(running.req(), b"x")
    running.stop()
    with rewind.Store(tmp_path / "lmdb") as s:
        assert [e.data for e in s.read_stream(b"default")] == [b"x"]
