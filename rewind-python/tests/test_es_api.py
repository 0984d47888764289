"""Tests of the event-sourcing API of `rewind.Store`: event types and
metadata (`NewEvent`), atomic appends across streams (`append_multi`),
backward and filtered reads, and live subscriptions."""

import threading
import time
from pathlib import Path
from typing import Iterator, List, Union

import pytest

import rewind
from conftest import spinning
from serverproc import event_store
from rewind import CAUGHT_UP, ExpectedVersion, NewEvent


@pytest.fixture(params=["memory", "lmdb", "remote"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[rewind.Store]:
    """Each test runs on an embedded store and on a client of a server:
    the same calls, the same results and exceptions."""
    with event_store(request.param, tmp_path) as s:
        yield s  # type: ignore[misc]


def test_new_event_carries_type_and_metadata(store: rewind.Store) -> None:
    e = NewEvent(b"placed", type="OrderPlaced", metadata=b'{"user": "ann"}')
    assert (e.data, e.type, e.metadata, e.id) == (b"placed", "OrderPlaced", b'{"user": "ann"}', None)
    assert e == NewEvent(b"placed", type="OrderPlaced", metadata=b'{"user": "ann"}')
    assert e != NewEvent(b"placed", type="Other", metadata=b'{"user": "ann"}')
    assert "OrderPlaced" in repr(e)
    [a] = store.append("order-1", [e, ], ExpectedVersion.NO_STREAM)
    [read] = store.read_stream("order-1")
    assert (read.type, read.metadata, read.data, read.id) == ("OrderPlaced", b'{"user": "ann"}', b"placed", a.id)
    assert "OrderPlaced" in repr(read)
    got = store.get(a.id)
    assert got is not None and got.type == "OrderPlaced" and got == read


def test_the_three_forms_of_events_mix(store: rewind.Store) -> None:
    store.append(
        b"s",
        [b"plain", ("my-id", b"pair"), NewEvent("text", id="other-id", type="T"), NewEvent(b"m", metadata="x")],
    )
    events = store.read_stream(b"s")
    assert [(e.data, e.type, e.metadata) for e in events] == [
        (b"plain", "", b""),
        (b"pair", "", b""),
        (b"text", "T", b""),
        (b"m", "", b"x"),
    ]
    assert events[1].id == b"my-id" and events[2].id == b"other-id"


def test_an_overlong_type_is_refused(store: rewind.Store) -> None:
    with pytest.raises(rewind.InvalidArgumentError):
        store.append(b"s", [NewEvent(b"x", type="t" * 256)])
    assert store.next_position() == 0


def test_append_multi_is_atomic_and_names_streams(store: rewind.Store) -> None:
    done = store.append_multi(
        [
            (b"account-1", [NewEvent(b"-10", id="t1-debit", type="Debited")], ExpectedVersion.NO_STREAM),
            ("account-2", [NewEvent(b"+10", id="t1-credit", type="Credited")]),
        ]
    )
    assert [(a.stream, a.version, a.position, a.id) for a in done] == [
        (b"account-1", 0, 0, b"t1-debit"),
        (b"account-2", 0, 1, b"t1-credit"),
    ]
    assert "account-1" in repr(done[0])
    # A retry of the same append: the same answer, nothing written.
    again = store.append_multi(
        [
            (b"account-1", [NewEvent(b"-10", id="t1-debit", type="Debited")], ExpectedVersion.NO_STREAM),
            ("account-2", [NewEvent(b"+10", id="t1-credit", type="Credited")]),
        ]
    )
    assert again == done
    assert store.next_position() == 2
    # One part fails its expected version: nothing of the call is written.
    with pytest.raises(rewind.WrongExpectedVersionError):
        store.append_multi([(b"account-3", [b"x"], ExpectedVersion.NO_STREAM), (b"account-1", [b"y"], 5)])
    assert store.next_position() == 2
    assert store.stream_head(b"account-3") is None
    # A stream named twice is refused.
    with pytest.raises(rewind.InvalidArgumentError):
        store.append_multi([(b"a", [b"x"]), (b"a", [b"y"])])
    with pytest.raises(TypeError):
        store.append_multi([b"not a tuple"])  # type: ignore[list-item]


def test_read_stream_and_log_backward(store: rewind.Store) -> None:
    store.append(b"a", [b"a0", b"a1", b"a2"])
    store.append(b"b", [b"b0"])
    assert [e.data for e in store.read_stream_backward(b"a")] == [b"a2", b"a1", b"a0"]
    assert [e.data for e in store.read_stream_backward(b"a", 1)] == [b"a1", b"a0"]
    assert [e.data for e in store.read_stream_backward(b"a", None, 1)] == [b"a2"]
    assert store.read_stream_backward(b"nothing") == []
    assert [e.position for e in store.read_log_backward()] == [3, 2, 1, 0]
    assert [e.position for e in store.read_log_backward(2, 2)] == [2, 1]
    assert [e.position for e in store.read_log_backward(99, 1)] == [3]


def test_read_log_filtered(store: rewind.Store) -> None:
    store.append(b"order-1", [NewEvent(b"1", type="Placed")])
    store.append(b"cart-1", [NewEvent(b"2", type="Placed")])
    store.append(b"order-2", [NewEvent(b"3", type="Paid")])
    store.append(b"order-1", [NewEvent(b"4", type="Shipped")])
    assert [e.data for e in store.read_log(stream_prefix=b"order-")] == [b"1", b"3", b"4"]
    assert [e.data for e in store.read_log(types=["Placed"])] == [b"1", b"2"]
    assert [e.data for e in store.read_log(0, None, "order-", {"Placed", "Shipped"})] == [b"1", b"4"]
    assert [e.data for e in store.read_log(1, 1, stream_prefix="order-")] == [b"3"]
    assert store.read_log(types=[]) == []
    assert len(store.read_log()) == 4
    with pytest.raises(TypeError):
        store.read_log(types="Placed")


def test_subscription_hands_out_history_then_caught_up_then_live(store: rewind.Store) -> None:
    store.append(b"order-1", [b"created"])
    with store.subscribe(0) as sub:
        first = sub.next(timeout=5)
        assert isinstance(first, rewind.Event) and first.data == b"created"
        assert sub.next(timeout=5) is CAUGHT_UP
        assert repr(CAUGHT_UP) == "rewind.CAUGHT_UP"
        assert sub.position == 1
        assert sub.next(timeout=0.01) is None
        store.append(b"order-1", [b"paid"])
        live = sub.next(timeout=5)
        assert isinstance(live, rewind.Event) and live.data == b"paid" and live.position == 1
        assert sub.position == 2
    assert sub.stopped
    assert sub.next(timeout=0.01) is None
    assert list(sub) == []


def test_subscription_from_the_end_and_filtered(store: rewind.Store) -> None:
    store.append(b"order-1", [b"old"])
    sub = store.subscribe(stream_prefix=b"order-", types=["Paid"])
    assert sub.next(timeout=5) is CAUGHT_UP
    store.append(b"order-1", [NewEvent(b"x", type="Placed")])
    store.append(b"cart-1", [NewEvent(b"y", type="Paid")])
    store.append(b"order-2", [NewEvent(b"z", type="Paid")])
    got = sub.next(timeout=5)
    assert isinstance(got, rewind.Event) and got.data == b"z" and got.stream == b"order-2"
    assert sub.position == 4
    sub.stop()


def test_stop_from_another_thread_wakes_a_blocked_iteration(store: rewind.Store) -> None:
    sub = store.subscribe(0)
    seen: List[Union[rewind.Event, rewind.CaughtUp]] = []

    def consume() -> None:
        for item in sub:
            seen.append(item)

    def wait_for(n: int) -> None:
        deadline = time.monotonic() + 5
        while len(seen) < n and time.monotonic() < deadline:
            time.sleep(0.01)

    t = threading.Thread(target=consume)
    t.start()
    wait_for(1)
    store.append(b"s", [b"e1"])
    wait_for(2)
    # The consumer is now blocked in next() with the GIL released: this thread runs.
    sub.stop()
    t.join(5)
    assert not t.is_alive()
    assert seen[0] is CAUGHT_UP
    assert isinstance(seen[1], rewind.Event) and seen[1].data == b"e1"


def test_a_blocked_next_releases_the_gil(store: rewind.Store) -> None:
    sub = store.subscribe()
    assert sub.next(timeout=5) is CAUGHT_UP
    with spinning() as counter:
        before = counter[0]
        assert sub.next(timeout=0.3) is None
        assert counter[0] - before > 1000


def test_closing_the_store_ends_a_subscription_with_closed_error(tmp_path: Path) -> None:
    store = rewind.Store(tmp_path / "db")
    store.append(b"s", [b"e"])
    sub = store.subscribe(0)
    store.close()
    item = sub.next(timeout=5)
    assert isinstance(item, rewind.Event) and item.data == b"e"
    with pytest.raises(rewind.ClosedError):
        while True:
            if sub.next(timeout=5) is None:
                pytest.fail("the closed store's subscription timed out")
