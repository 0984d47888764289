"""Appends of several events to an event store written in Python: the rules
are checked before anything is written, and an append is written all or
none (`add_events`), or one `add_event` at a time for a store without it.

The appends go through `rewind._native._store_over_event_store`, the backend
the server serves such a store with."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Tuple

import pytest

import rewind
import userstore
from faults import HalfWriter, fail_on, rows
from rewind import ExpectedVersion, _native
from rewind.server.eventstores import (
    EventStore,
    LogEventStore,
    RotatedEventStore,
    SQLiteEventStore,
    SyncedRotationEventStores,
)

Pairs = List[Tuple[str, bytes]]


class Calls:
    """Records the writes a store gets."""

    def __init__(self) -> None:
        self.writes: List[Tuple[str, List[str]]] = []


class SpySQLite(SQLiteEventStore):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.calls = Calls()

    def add_event(self, key: str, event: bytes) -> None:
        self.calls.writes.append(("add_event", [key]))
        super().add_event(key, event)

    def add_events(self, events: Iterable[Tuple[str, bytes]]) -> None:
        events = list(events)
        self.calls.writes.append(("add_events", [k for k, _ in events]))
        super().add_events(events)


class SpyLog(LogEventStore):
    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.calls = Calls()

    def add_event(self, key: str, event: bytes) -> None:
        self.calls.writes.append(("add_event", [key]))
        super().add_event(key, event)

    def add_events(self, events: Iterable[Tuple[str, bytes]]) -> None:
        events = list(events)
        self.calls.writes.append(("add_events", [k for k, _ in events]))
        super().add_events(events)


def _rotated(tmp: Path) -> EventStore:
    return RotatedEventStore(SQLiteEventStore, str(tmp / "rot"), "db")


def _synced(tmp: Path) -> EventStore:
    store = SyncedRotationEventStores(4)
    store.add_rotated_store(RotatedEventStore(SQLiteEventStore, str(tmp / "db"), "db"))
    store.add_rotated_store(RotatedEventStore(LogEventStore, str(tmp / "log"), "log"))
    return store


FILE_STORES: Dict[str, Callable[[Path], EventStore]] = {
    "SQLiteEventStore": lambda tmp: SpySQLite(str(tmp / "db.sqlite")),
    "LogEventStore": lambda tmp: SpyLog(str(tmp / "events.log")),
    "RotatedEventStore": _rotated,
    "SyncedRotationEventStores": _synced,
}


@pytest.fixture(params=sorted(FILE_STORES))
def estore(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    store = FILE_STORES[request.param](tmp_path)
    yield store
    store.close()


def over(estore: Any) -> rewind.Store:
    return _native._store_over_event_store(estore)


def events(estore: EventStore) -> Pairs:
    return list(estore.get_events())


def pairs(*keys: str) -> Pairs:
    return [(k, "data of {0}".format(k).encode()) for k in keys]


def writes(estore: EventStore) -> List[Tuple[str, List[str]]]:
    calls = getattr(estore, "calls", None)
    return list(calls.writes) if calls is not None else []


def test_a_multi_event_append_is_one_write(estore: EventStore) -> None:
    store = over(estore)
    appended = store.append("default", pairs("a", "b", "c"))
    assert [(x.id, x.version, x.position) for x in appended] == [
        (b"a", 0, 0),
        (b"b", 1, 1),
        (b"c", 2, 2),
    ]
    store.append("default", pairs("d"), ExpectedVersion.exact(2))
    assert events(estore) == pairs("a", "b", "c", "d")
    assert [e.id for e in store.read_stream("default")] == [b"a", b"b", b"c", b"d"]
    if writes(estore):
        # Several events: add_events; one event: add_event, as always.
        assert writes(estore) == [("add_events", ["a", "b", "c"]), ("add_event", ["d"])]
    store.close()


@pytest.mark.parametrize(
    "bad, error",
    [
        ((pairs("x", "y", "x"), None), rewind.DuplicateIdError),
        ((pairs("x", "a"), None), rewind.DuplicateIdError),
        ((pairs("x", "y"), ExpectedVersion.NO_STREAM), rewind.WrongExpectedVersionError),
        ((pairs("x", "y"), ExpectedVersion.exact(0)), rewind.WrongExpectedVersionError),
        ((pairs("x", "y"), ExpectedVersion.exact(5)), rewind.WrongExpectedVersionError),
        ((pairs("x", "") + pairs("z"), None), rewind.InvalidArgumentError),
        ((pairs("x", "k" * 256), None), rewind.InvalidArgumentError),
        (([("x", b"1"), (b"\xff\xfe", b"2")], None), rewind.InvalidArgumentError),
    ],
)
def test_a_refused_append_writes_nothing(
    estore: EventStore, bad: Tuple[List[Any], Any], error: type
) -> None:
    store = over(estore)
    store.append("default", pairs("a", "b"))
    before, calls = events(estore), writes(estore)
    batch, expected = bad
    with pytest.raises(error):
        store.append("default", batch, expected)
    assert events(estore) == before
    assert writes(estore) == calls  # refused before the store was asked
    assert [e.id for e in store.read_stream("default")] == [b"a", b"b"]
    # The ids of the refused append are free, and the versions go on.
    appended = store.append("default", pairs("x", "y", "z"), ExpectedVersion.exact(1))
    assert [x.version for x in appended] == [2, 3, 4]
    assert events(estore) == pairs("a", "b", "x", "y", "z")
    store.close()


def test_other_streams_are_refused(estore: EventStore) -> None:
    store = over(estore)
    with pytest.raises(rewind.InvalidArgumentError):
        store.append("elsewhere", pairs("a", "b"))
    assert events(estore) == [] and writes(estore) == []
    assert store.read_stream("elsewhere") == []
    store.close()


def test_a_failure_in_the_middle_of_an_append_leaves_nothing_of_it_in_sqlite(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    estore = SQLiteEventStore(str(path))
    store = over(estore)
    store.append("default", pairs("a", "b"))
    fail_on(estore, "boom")
    with pytest.raises(rewind.BackendError) as info:
        store.append("default", pairs("c", "d", "boom", "e"))
    assert "add_events failed" in str(info.value)
    assert rows(path) == ["a", "b"]
    assert events(estore) == pairs("a", "b")
    assert [e.id for e in store.read_stream("default")] == [b"a", b"b"]
    head = store.stream_head("default")
    assert head is not None and (head.id, head.version) == (b"b", 1)
    # The store and its index go on in step.
    appended = store.append("default", pairs("c", "d"), ExpectedVersion.exact(1))
    assert [x.version for x in appended] == [2, 3]
    assert rows(path) == ["a", "b", "c", "d"]
    store.close()
    estore.close()
    reopened = SQLiteEventStore(str(path))  # the checksum matches
    assert events(reopened) == pairs("a", "b", "c", "d")
    reopened.close()


def test_a_failed_write_is_cut_off_the_log_file(tmp_path: Path) -> None:
    path = tmp_path / "events.log"
    estore = LogEventStore(str(path))
    store = over(estore)
    store.append("default", pairs("a", "b"))
    size = os.path.getsize(path)
    estore.f = HalfWriter(estore.f)
    with pytest.raises(rewind.BackendError):
        store.append("default", pairs("c", "d", "e"))
    assert os.path.getsize(path) == size
    assert events(estore) == pairs("a", "b")
    assert [e.id for e in store.read_stream("default")] == [b"a", b"b"]
    # The file was reopened: appends go on.
    appended = store.append("default", pairs("c", "d"))
    assert [x.version for x in appended] == [2, 3]
    store.close()
    estore.close()
    reopened = LogEventStore(str(path))  # the checksum matches
    assert events(reopened) == pairs("a", "b", "c", "d")
    reopened.close()


def test_a_store_without_add_events_gets_one_add_event_per_event() -> None:
    estore = userstore.FailingEventStore("fallback")
    assert not hasattr(estore, "add_events")
    store = over(estore)
    store.append("default", pairs("a", "b"))
    assert estore.calls == ["get_events", "add_event", "add_event"]
    # As documented: a failure keeps the events before it, and the append
    # is reported as failed.
    with pytest.raises(rewind.BackendError) as info:
        store.append("default", [("c", b"fine"), ("d", b"fail here"), ("e", b"never")])
    assert "refused" in str(info.value)
    assert [k for k, _ in estore.events] == ["a", "b", "c"]
    assert [(e.id, e.version) for e in store.read_stream("default")] == [
        (b"a", 0),
        (b"b", 1),
        (b"c", 2),
    ]
    appended = store.append("default", pairs("d"), ExpectedVersion.exact(2))
    assert appended[0].version == 3
    store.close()


def test_a_subclass_can_turn_add_events_off(tmp_path: Path) -> None:
    class OneByOne(SpySQLite):
        add_events = None  # type: ignore[assignment]

    estore = OneByOne(str(tmp_path / "db.sqlite"))
    store = over(estore)
    store.append("default", pairs("a", "b"))
    assert estore.calls.writes == [("add_event", ["a"]), ("add_event", ["b"])]
    store.close()
    estore.close()


def test_concurrent_appends_keep_the_store_and_its_index_in_step(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    estore = SQLiteEventStore(str(path))
    fail_on(estore, "boom")
    store = over(estore)
    results: List[Tuple[List[str], Any]] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        for i in range(15):
            keys = ["c{0}-{1}-{2}".format(n, i, j) for j in range(1 + (i % 3))]
            if i % 5 == 1:
                keys.append("boom")  # fails while writing
            elif i % 5 == 2:
                keys.append("shared-{0}".format(i))  # taken by the first client to get it
            try:
                outcome: Any = store.append("default", pairs(*keys))
            except rewind.RewindError as e:
                outcome = e
            with lock:
                results.append((keys, outcome))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    stored = [k for k, _ in estore.get_events()]
    assert rows(path) == stored
    read = store.read_stream("default")
    assert [e.id.decode() for e in read] == stored
    assert [e.version for e in read] == list(range(len(stored)))
    accepted = 0
    for keys, outcome in results:
        if isinstance(outcome, list):
            accepted += len(keys)
            versions = [x.version for x in outcome]
            assert [stored[v] for v in versions] == keys
        else:
            assert not any(k in stored for k in keys if k.startswith("c")), (keys, outcome)
            if "boom" in keys:
                assert isinstance(outcome, rewind.BackendError)
            else:
                assert isinstance(outcome, rewind.DuplicateIdError)
    assert accepted == len(stored) > 0
    assert sum(isinstance(o, rewind.DuplicateIdError) for _, o in results) == 4 * 3 - 3
    store.close()
    estore.close()
