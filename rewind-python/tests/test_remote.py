"""`rewind.Client` against a real server process: the interface it shares
with `rewind.Store` (the behavioural tests of `test_store.py` and
`test_es_api.py` run on both), and what only a client of a server meets:
a server that is down or restarts, resent appends, subscriptions that
resume, stopping from another thread, the GIL while it waits, CURVE."""

from __future__ import annotations

import inspect
import threading
import time
from pathlib import Path
from typing import Iterator, List, Union

import pytest

import rewind
from rewind import CAUGHT_UP, ExpectedVersion, NewEvent
from conftest import spinning
from serverproc import ServerProcess, curve_flags, event_store

Item = Union[rewind.Event, rewind.CaughtUp]


@pytest.fixture
def server() -> Iterator[ServerProcess]:
    s = ServerProcess()
    yield s
    s.close()


@pytest.fixture
def lmdb_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server on an LMDB store: what it stored outlives a restart."""
    s = ServerProcess(data_dir=tmp_path / "data")
    yield s
    s.close()


def quick(server: ServerProcess, **keys: str) -> rewind.Client:
    """A client that notices a dead server quickly, with retries enough to
    outlast a restart."""
    return rewind.Client(server.endpoint, timeout=0.5, retries=60, **keys)


def take(sub: rewind.Subscription, n: int) -> List[Item]:
    out: List[Item] = []
    while len(out) < n:
        item = sub.next(timeout=20)
        assert item is not None, "only {0} items came: {1}".format(len(out), out)
        out.append(item)
    return out


def data(items: List[Item]) -> List[str]:
    return ["^" if i is CAUGHT_UP else i.data.decode() for i in items]  # type: ignore[union-attr]


# The interface.

SHARED = [
    "append",
    "append_multi",
    "read_stream",
    "read_stream_backward",
    "read_log",
    "read_log_backward",
    "subscribe",
    "iter_stream",
    "iter_log",
    "get",
    "contains",
    "stream_head",
    "next_position",
    "list_streams",
    "info",
    "close",
]


@pytest.mark.parametrize("name", SHARED)
def test_client_and_store_methods_have_the_same_signatures(name: str) -> None:
    store_method = getattr(rewind.Store, name)
    client_method = getattr(rewind.Client, name)
    assert inspect.signature(store_method) == inspect.signature(client_method)
    assert store_method.__doc__ == client_method.__doc__ or name == "close"


def test_the_client_constructor() -> None:
    sig = inspect.signature(rewind.Client)
    assert list(sig.parameters) == [
        "endpoint",
        "timeout",
        "retries",
        "server_public_key",
        "public_key",
        "secret_key",
    ]
    assert rewind.Client.__doc__ and "Store" in rewind.Client.__doc__


@pytest.mark.parametrize("kind", ["memory", "lmdb", "remote"])
def test_list_streams_and_info(kind: str, tmp_path: Path) -> None:
    with event_store(kind, tmp_path) as store:
        assert store.list_streams() == []
        for name in [b"b", b"a", b"c", b"a"]:
            store.append(name, [name])
        page = store.list_streams(limit=2)
        assert [(s.name, s.version, s.position) for s in page] == [(b"a", 1, 3), (b"b", 0, 0)]
        assert [s.name for s in store.list_streams(b"b")] == [b"c"]
        assert [s.name for s in store.list_streams(after="a", limit=1)] == [b"b"]
        assert "name=b'a'" in repr(page[0])
        info = store.info()
        assert info.next_position == 4
        assert info.version == rewind.__version__
        if kind == "remote":
            assert info.protocol_versions == ["1"]
            assert info.max_message_size and info.max_message_size > 0
            assert info.heartbeat and info.heartbeat > 0
        else:
            assert info.protocol_versions == []
            assert info.max_message_size is None and info.heartbeat is None
        assert "next_position=4" in repr(info)


@pytest.mark.parametrize("kind", ["memory", "remote"])
def test_an_append_sent_again_is_a_retry(kind: str, tmp_path: Path) -> None:
    with event_store(kind, tmp_path) as store:
        events = [NewEvent(b"1", id="e-1", type="T"), NewEvent(b"2", id="e-2", type="T")]
        first = store.append(b"s", events, ExpectedVersion.NO_STREAM)
        # The same append again (its reply lost, say): the first positions,
        # nothing written.
        assert store.append(b"s", events, ExpectedVersion.NO_STREAM) == first
        assert store.next_position() == 2
        # Another append with a taken id is no retry.
        with pytest.raises(rewind.DuplicateIdError) as info:
            store.append(b"s", [NewEvent(b"other", id="e-1")])
        assert info.value.id == b"e-1"


# A server that is down, restarts, or goes away.


def test_an_append_waits_for_a_server_that_comes_back_and_is_stored_once(
    lmdb_server: ServerProcess,
) -> None:
    client = quick(lmdb_server)
    first = client.append(b"s", [(b"one", b"1")], ExpectedVersion.NO_STREAM)
    lmdb_server.kill()
    result: List[object] = []
    writer = threading.Thread(
        target=lambda: result.append(client.append(b"s", [b"2"], ExpectedVersion.exact(0)))
    )
    writer.start()
    time.sleep(0.7)
    lmdb_server.start()
    writer.join(30)
    assert not writer.is_alive()
    [second] = result[0]  # type: ignore[misc]
    assert (second.version, second.position) == (1, 1)
    # The acknowledged append, sent again to the new server: a retry.
    assert client.append(b"s", [(b"one", b"1")], ExpectedVersion.NO_STREAM) == first
    assert [e.data for e in client.read_stream(b"s")] == [b"1", b"2"]
    client.close()


def test_a_subscription_resumes_across_a_restart_with_nothing_missed_or_repeated(
    lmdb_server: ServerProcess,
) -> None:
    writer = quick(lmdb_server)
    reader = quick(lmdb_server)
    for i in range(20):
        writer.append(b"s", [str(i).encode()])
    sub = reader.subscribe(0)
    got = take(sub, 6)
    lmdb_server.restart()  # graceful: the server says it is shutting down
    for i in range(20, 25):
        writer.append(b"s", [str(i).encode()])
    lmdb_server.kill()  # and abruptly
    lmdb_server.start()
    for i in range(25, 30):
        writer.append(b"t", [str(i).encode()])
    got += take(sub, 25)
    want = [str(i) for i in range(30)]
    caught_up = data(got).index("^")
    want.insert(caught_up, "^")
    assert data(got) == want, "every event once, in order, CAUGHT_UP once"
    assert caught_up >= 20
    assert sub.next(timeout=0.3) is None
    assert sub.position == 30
    sub.stop()
    writer.close()
    reader.close()


def test_no_server_is_a_network_error_and_a_closed_client_is_closed(server: ServerProcess) -> None:
    server.stop()
    client = rewind.Client(server.endpoint, timeout=0.2, retries=1)
    with pytest.raises(rewind.NetworkError) as info:
        client.next_position()
    assert "no reply" in str(info.value)
    client.close()
    client.close()  # harmless
    with pytest.raises(rewind.ClosedError):
        client.append(b"s", [b"x"])
    with pytest.raises(rewind.ClosedError):
        client.read_stream(b"s")


def test_a_closed_client_ends_its_subscription_with_closed_error(server: ServerProcess) -> None:
    client = rewind.Client(server.endpoint)
    sub = client.subscribe()
    assert sub.next(timeout=10) is CAUGHT_UP
    client.close()
    with pytest.raises(rewind.ClosedError):
        sub.next(timeout=10)


def test_bad_arguments_of_the_constructor() -> None:
    with pytest.raises(rewind.InvalidArgumentError):
        rewind.Client("not an endpoint")
    with pytest.raises(ValueError):
        rewind.Client("tcp://127.0.0.1:1", timeout=-1)
    with pytest.raises(rewind.ConfigError):
        rewind.Client("tcp://127.0.0.1:1", timeout=0)
    public, secret = rewind.curve_keypair()
    with pytest.raises(rewind.ConfigError) as info:
        rewind.Client("tcp://127.0.0.1:1", public_key=public, secret_key=secret)
    assert "server_public_key" in str(info.value)
    with pytest.raises(rewind.ConfigError):
        rewind.Client("tcp://127.0.0.1:1", server_public_key="abc", public_key=public, secret_key=secret)
    assert repr(rewind.Client("tcp://127.0.0.1:1")) == 'Client("tcp://127.0.0.1:1")'


# Threads and the GIL (test_es_api.py also runs its tests of stop() from
# another thread and of a waiting subscription on a client).


def test_another_thread_appends_while_a_subscription_waits(server: ServerProcess) -> None:
    client = rewind.Client(server.endpoint)
    sub = client.subscribe()
    assert sub.next(timeout=10) is CAUGHT_UP
    # The thread can only append if next() below let go of the GIL.
    t = threading.Timer(0.3, lambda: client.append(b"s", [b"from the other thread"]))
    t.start()
    item = sub.next(timeout=10)
    t.join()
    assert isinstance(item, rewind.Event) and item.data == b"from the other thread"
    sub.stop()
    client.close()


def test_a_request_waiting_for_an_absent_server_releases_the_gil(server: ServerProcess) -> None:
    server.stop()
    slow = rewind.Client(server.endpoint, timeout=0.3, retries=0)
    with spinning() as counter:
        with pytest.raises(rewind.NetworkError):
            slow.next_position()
    assert counter[0] > 1000
    slow.close()


# CURVE.


def test_curve_keypair_gives_z85_keys_that_paste() -> None:
    public, secret = rewind.curve_keypair()
    assert len(public) == len(secret) == 40 and public != secret
    assert "%" not in public + secret and not public.startswith("-")
    assert rewind.curve_keypair() != (public, secret)


def test_curve_admits_allowed_keys_and_refuses_others() -> None:
    server_public, server_secret = rewind.curve_keypair()
    allowed_public, allowed_secret = rewind.curve_keypair()
    other_public, other_secret = rewind.curve_keypair()
    server = ServerProcess(extra=curve_flags(server_public, server_secret, allowed_public))
    try:
        with rewind.Client(
            server.endpoint,
            server_public_key=server_public,
            public_key=allowed_public,
            secret_key=allowed_secret,
        ) as allowed:
            allowed.append(b"s", [b"secret"])
            sub = allowed.subscribe(0)
            assert data(take(sub, 2)) == ["secret", "^"]
            sub.stop()
        refused = [
            rewind.Client(
                server.endpoint,
                timeout=0.3,
                retries=1,
                server_public_key=server_public,
                public_key=other_public,
                secret_key=other_secret,
            ),
            rewind.Client(server.endpoint, timeout=0.3, retries=1),
        ]
        for client in refused:
            with pytest.raises(rewind.NetworkError):
                client.read_stream(b"s")
            client.close()
    finally:
        server.close()
