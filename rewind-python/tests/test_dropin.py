"""rewind.server.eventstores as code written for the original Rewind 0.3.1
uses it: the abstract `EventStore`, `get_events` results that are read at
once (and outlive the store), a `RotatedEventStore` that finds its batches
with `os.listdir` and opens every batch it reads through its factory, and a
`SyncedRotationEventStores` that is closed and built again from its
configuration."""

from __future__ import annotations

import collections.abc
import os
import typing
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple
from unittest import mock

import pytest

import userstore
from conftest import Running, make_config
from rewind.server import config as rconfig
from rewind.server.eventstores import (
    EventOrderError,
    EventStore,
    InMemoryEventStore,
    LMDBEventStore,
    LogEventStore,
    RotatedEventStore,
    SQLiteEventStore,
    SyncedRotationEventStores,
)

Events = List[Tuple[str, bytes]]


def numbered(first: int, n: int) -> Events:
    return [("key-{0}".format(i), "event {0}".format(i).encode()) for i in range(first, first + n)]


# The abstract base class.


def test_base_from_config_raises_not_implemented() -> None:
    with pytest.raises(NotImplementedError):
        EventStore.from_config(None)
    with pytest.raises(NotImplementedError):
        EventStore.from_config(make_config({"s": {"path": "x"}}), path="x")
    with pytest.raises(NotImplementedError):
        EventStore().from_config(None)


def test_base_close_does_nothing() -> None:
    store = EventStore()
    assert store.close() is None
    assert store.close() is None


def test_base_get_events_promises_a_sequence() -> None:
    hints = typing.get_type_hints(EventStore.get_events)
    assert typing.get_origin(hints["return"]) is collections.abc.Sequence
    with pytest.raises(NotImplementedError):
        EventStore().get_events()


# get_events of every store: a list, read when called, valid after close.


def _rotated(tmp: Path) -> EventStore:
    return RotatedEventStore(SQLiteEventStore, str(tmp / "rot"), "db")


def _synced(tmp: Path) -> EventStore:
    store = SyncedRotationEventStores(4)
    store.add_rotated_store(RotatedEventStore(LogEventStore, str(tmp / "log"), "log"))
    store.add_rotated_store(RotatedEventStore(SQLiteEventStore, str(tmp / "db"), "db"))
    return store


OPENERS: Dict[str, Callable[[Path], EventStore]] = {
    "LMDBEventStore": lambda tmp: LMDBEventStore(str(tmp / "lmdb")),
    "SQLiteEventStore": lambda tmp: SQLiteEventStore(str(tmp / "db.sqlite")),
    "LogEventStore": lambda tmp: LogEventStore(str(tmp / "events.log")),
    "RotatedEventStore": _rotated,
    "SyncedRotationEventStores": _synced,
}


def _fill(store: EventStore, events: Events) -> None:
    for i, (key, event) in enumerate(events):
        store.add_event(key, event)
        if isinstance(store, RotatedEventStore) and i % 4 == 3:
            store.rotate()


def _assert_materialised(result: Any, expected: Events) -> None:
    assert isinstance(result, list)
    assert len(result) == len(expected)
    if expected:
        assert result[0] == expected[0] and result[-1] == expected[-1]
    assert list(result) == expected
    assert [pair for pair in result] == expected  # a second iteration


def test_in_memory_get_events_outlives_close() -> None:
    store = InMemoryEventStore()
    events = numbered(0, 9)
    _fill(store, events)
    everything = store.get_events()
    middle = store.get_events(events[2][0], events[6][0])
    store.close()
    _assert_materialised(everything, events)
    _assert_materialised(middle, events[3:7])


@pytest.mark.parametrize("name", sorted(OPENERS))
def test_get_events_is_read_at_once_and_outlives_close(name: str, tmp_path: Path) -> None:
    store = OPENERS[name](tmp_path)
    events = numbered(0, 14)
    _fill(store, events)
    everything = store.get_events()
    after = store.get_events(from_=events[1][0])
    before = store.get_events(to=events[9][0])
    between = store.get_events(events[2][0], events[12][0])
    nothing = store.get_events(events[5][0], events[5][0])
    store.close()
    _assert_materialised(everything, events)
    _assert_materialised(after, events[2:])
    _assert_materialised(before, events[:10])
    _assert_materialised(between, events[3:13])
    _assert_materialised(nothing, [])

    # Reopened, the store reads the same; the earlier results are unchanged.
    reopened = OPENERS[name](tmp_path)
    try:
        assert reopened.get_events() == everything
        assert reopened.get_events(events[2][0], events[12][0]) == between
        reopened.add_event("after-reopen", b"new")
        assert reopened.get_events() == events + [("after-reopen", b"new")]
        assert everything == events
    finally:
        reopened.close()


def test_large_reads_are_complete(tmp_path: Path) -> None:
    events = numbered(0, 10000)
    for store in (
        InMemoryEventStore(),
        SQLiteEventStore(str(tmp_path / "db.sqlite")),
        LogEventStore(str(tmp_path / "events.log")),
    ):
        add_events = getattr(store, "add_events")
        add_events(events)
        result = store.get_events()
        assert isinstance(result, list) and result == events
        assert store.get_events(events[99][0], events[9000][0]) == events[100:9001]
        store.close()


# RotatedEventStore: batches found with os.listdir, opened through the factory.


def _in_memory_batch(events: Events) -> InMemoryEventStore:
    store = InMemoryEventStore()
    for key, event in events:
        store.add_event(key, event)
    setattr(store, "close", mock.MagicMock())
    return store


def test_rotated_store_with_a_patched_directory() -> None:
    # As the original's own tests drove it: the directory is not real, the
    # factory hands out prepared in-memory stores by path.
    batches = [
        [(str(i), str(i + 30).encode()) for i in range(0, 20)],
        [(str(i), str(i + 30).encode()) for i in range(20, 40)],
        [("one", b"four"), ("two", b"five")],
    ]
    stores = [_in_memory_batch(b) for b in batches] + [InMemoryEventStore()]
    by_path = {"/random_dir/eventdb.{0}".format(n): s for n, s in enumerate(stores)}
    factory = mock.Mock(side_effect=lambda path: by_path[path])

    with mock.patch("os.path.exists") as exists, mock.patch("os.listdir") as listdir:
        exists.return_value = True
        listdir.return_value = ["eventdb.0", "eventdb.1", "eventdb.2"]
        store = RotatedEventStore(factory, "/random_dir", "eventdb")
        exists.assert_called_with("/random_dir")
        assert listdir.call_count > 0
    factory.assert_called_once_with("/random_dir/eventdb.2")
    assert store.batchno == 2

    everything = batches[0] + batches[1] + batches[2]
    assert store.get_events() == everything
    assert factory.call_args_list[1:] == [
        mock.call("/random_dir/eventdb.0"),
        mock.call("/random_dir/eventdb.1"),
    ]
    assert store.get_events(from_="0") == everything[1:]
    assert store.get_events(from_="1") == everything[2:]
    assert store.get_events(to=everything[-1][0]) == everything
    assert store.get_events(to=everything[-2][0]) == everything[:-1]
    assert store.get_events(to="5") == everything[:6]
    assert store.get_events("1", everything[-2][0]) == everything[2:-1]
    assert store.get_events("3", "33") == everything[4:34]
    for key, _ in everything:
        assert store.key_exists(key), key
    assert not store.key_exists("unknown")
    with pytest.raises(EventOrderError):
        store.get_events("33", "3")
    with pytest.raises(EventStore.EventKeyDoesNotExistError):
        store.get_events(from_="unknown")
    # Every batch opened for a read was closed again; not the current one.
    for older in stores[:2]:
        older_close = getattr(older, "close")
        assert older_close.call_count >= 1
    getattr(stores[2], "close").assert_not_called()

    factory.reset_mock()
    store.rotate()
    getattr(stores[2], "close").assert_called_once_with()
    factory.assert_called_once_with("/random_dir/eventdb.3")
    store.add_event(b"mykey", "myvalue")  # type: ignore[arg-type]
    assert store.key_exists(b"mykey")  # type: ignore[arg-type]
    assert stores[3].key_exists("mykey")
    assert store.get_events(from_="two") == [("mykey", b"myvalue")]
    assert store.get_events("1")[-3:] == [
        ("one", b"four"),
        ("two", b"five"),
        ("mykey", b"myvalue"),
    ]


class Tracker:
    """A factory that records the paths it is called with and how many of
    the stores it handed out are open."""

    def __init__(self, make: Callable[[str], EventStore]) -> None:
        self.make = make
        self.paths: List[str] = []
        self.open = 0

    def __call__(self, path: str) -> EventStore:
        store = self.make(path)
        self.paths.append(path)
        self.open += 1
        if not getattr(store, "_tracked", False):
            close = store.close

            def tracked_close() -> None:
                self.open -= 1
                close()

            setattr(store, "close", tracked_close)
            setattr(store, "_tracked", True)
        return store


def _cached(make: Callable[[str], EventStore]) -> Callable[[str], EventStore]:
    """A factory for stores without files: one store per path, kept."""
    stores: Dict[str, EventStore] = {}

    def factory(path: str) -> EventStore:
        if path not in stores:
            stores[path] = make(path)
        return stores[path]

    return factory


BATCH_FACTORIES: Dict[str, Callable[[], Callable[[str], EventStore]]] = {
    "SQLiteEventStore": lambda: SQLiteEventStore,
    "LogEventStore": lambda: LogEventStore,
    "InMemoryEventStore": lambda: _cached(lambda path: InMemoryEventStore()),
    "users_class": lambda: _cached(userstore.ListEventStore),
}


@pytest.mark.parametrize("kind", sorted(BATCH_FACTORIES))
def test_any_store_works_as_a_batch(kind: str, tmp_path: Path) -> None:
    factory = Tracker(BATCH_FACTORIES[kind]())
    dirpath = str(tmp_path / "rot")
    store = RotatedEventStore(factory, dirpath, "batch")
    assert factory.paths == [os.path.join(dirpath, "batch.0")]
    batches = [numbered(0, 3), numbered(3, 3), numbered(6, 2)]
    for n, batch in enumerate(batches):
        if n:
            store.rotate()
        for key, event in batch:
            store.add_event(key, event)
    everything = batches[0] + batches[1] + batches[2]
    assert factory.open == 1

    assert store.get_events() == everything
    assert store.get_events(everything[0][0], everything[6][0]) == everything[1:7]
    assert store.get_events(from_=everything[1][0]) == everything[2:]
    assert store.get_events(to=everything[2][0]) == everything[:3]
    assert store.get_events(everything[3][0], everything[4][0]) == everything[4:5]
    with pytest.raises(EventOrderError):
        store.get_events(everything[6][0], everything[1][0])
    with pytest.raises(EventStore.EventKeyDoesNotExistError):
        store.get_events(to="nowhere")
    for key, _ in everything:
        assert store.key_exists(key), key
    assert not store.key_exists("nowhere")
    # Every batch was opened through the factory by its path, and every
    # older one closed again.
    expected_paths = {os.path.join(dirpath, "batch.{0}".format(n)) for n in range(3)}
    assert set(factory.paths) == expected_paths
    assert factory.open == 1
    store.close()
    assert factory.open == 0


@pytest.mark.parametrize("realclass", [SQLiteEventStore, LogEventStore])
def test_rotated_store_reopened_finds_keys_in_older_batches(
    realclass: Callable[[str], EventStore], tmp_path: Path
) -> None:
    dirpath = str(tmp_path / "rot")
    store = RotatedEventStore(realclass, dirpath, "part")
    events = numbered(0, 11)
    _fill(store, events)
    assert store.batchno == 2
    store.close()

    calls: List[str] = []

    def factory(path: str) -> EventStore:
        calls.append(path)
        return realclass(path)

    store = RotatedEventStore(factory, dirpath, "part")
    assert store.batchno == 2 and calls == [os.path.join(dirpath, "part.2")]
    assert store.key_exists(events[0][0]) and store.key_exists(events[5][0])
    assert os.path.join(dirpath, "part.0") in calls and os.path.join(dirpath, "part.1") in calls
    assert store.get_events(events[0][0], events[5][0]) == events[1:6]
    assert store.get_events(events[7][0]) == events[8:]
    # A key looked for (and missed) before a rotation is found after it.
    assert not store.key_exists("fresh")
    store.add_event("fresh", b"1")
    store.rotate()
    store.rotate()
    assert store.key_exists("fresh")
    assert store.get_events("fresh") == []
    assert store.get_events(events[-1][0]) == [("fresh", b"1")]
    store.close()


def test_rotated_store_sees_batch_files_made_by_hand(tmp_path: Path) -> None:
    dirpath = tmp_path / "rot"
    dirpath.mkdir()
    for n in range(3):
        db = SQLiteEventStore(str(dirpath / "db.{0}".format(n)))
        db.add_event("hand-{0}".format(n), b"made by hand")
        db.close()
    (dirpath / "notes.txt").write_text("not a batch")
    store = RotatedEventStore(SQLiteEventStore, str(dirpath), "db")
    assert store.batchno == 2
    assert [k for k, _ in store.get_events()] == ["hand-0", "hand-1", "hand-2"]
    assert store.get_events("hand-0", "hand-1") == [("hand-1", b"made by hand")]
    assert store.key_exists("hand-0")
    store.close()


# SyncedRotationEventStores, built from its configuration, closed and built again.


def _synced_sections(tmp: Path) -> Dict[str, Dict[str, str]]:
    return {
        "general": {"storage-backend": "synced"},
        "synced": {
            "class": "rewind.server.eventstores.SyncedRotationEventStores",
            "storage-backends": "rotlog rotsqlite",
            "events_per_batch": "3",
        },
        "rotlog": {
            "class": "rewind.server.eventstores.RotatedEventStore",
            "realclass": "rewind.server.eventstores.LogEventStore",
            "path": str(tmp / "log"),
            "prefix": "appendlog",
        },
        "rotsqlite": {
            "class": "rewind.server.eventstores.RotatedEventStore",
            "realclass": "rewind.server.eventstores.SQLiteEventStore",
            "path": str(tmp / "db"),
            "prefix": "sqlite",
        },
    }


def test_synced_stores_closed_and_built_again_hold_the_same_events(tmp_path: Path) -> None:
    config = make_config(_synced_sections(tmp_path))
    store = rconfig.construct_eventstore(config)
    assert isinstance(store, SyncedRotationEventStores)
    first = numbered(0, 10)
    for key, event in first:
        store.add_event(key, event)
    before = store.get_events()
    store.close()
    assert sorted(os.listdir(tmp_path / "db")) == ["checksums.md5"] + [
        "sqlite.{0}".format(n) for n in range(4)
    ]

    store = rconfig.construct_eventstore(config)
    assert store.get_events() == before == first
    assert store.get_events(first[0][0], first[8][0]) == first[1:9]
    for key, _ in first:
        assert store.key_exists(key), key
    with pytest.raises(EventStore.EventKeyAlreadyExistError):
        store.add_event(first[1][0], b"again")
    more = numbered(10, 5)
    for key, event in more:
        store.add_event(key, event)
    add_events = getattr(store, "add_events")
    add_events(numbered(15, 2))
    everything = first + more + numbered(15, 2)
    assert store.get_events() == everything
    store.close()

    store = rconfig.construct_eventstore(config)
    assert store.get_events() == everything
    assert store.get_events(first[2][0], more[-1][0]) == everything[3:15]
    store.close()
    # Each rotated store holds every event.
    for sub, realclass, prefix in (
        ("log", LogEventStore, "appendlog"),
        ("db", SQLiteEventStore, "sqlite"),
    ):
        rotated = RotatedEventStore(realclass, str(tmp_path / sub), prefix)
        assert rotated.get_events() == everything
        rotated.close()


def test_synced_stores_are_served_again_after_a_restart(
    serve: Callable[..., Running], tmp_path: Path
) -> None:
    # The server reads a Python store through get_events(from_, to); the
    # ids may be in any batch.
    sections = _synced_sections(tmp_path)
    running = serve(sections)
    req = running.req()
    for i in range(8):
        req.send_multipart([b"PUBLISH", b"event %d" % i])
        assert req.recv_multipart() == [b"PUBLISHED"]
    req.send_multipart([b"QUERY", b"", b""])
    reply = req.recv_multipart()
    assert reply[-1] == b"END" and reply[1:-1:2] == [b"event %d" % i for i in range(8)]
    ids = reply[0:-1:2]
    running.stop()

    running = serve(sections)
    req = running.req()
    req.send_multipart([b"QUERY", ids[0], ids[4]])
    assert req.recv_multipart() == [
        frame for i in range(1, 5) for frame in (ids[i], b"event %d" % i)
    ] + [b"END"]
    req.send_multipart([b"PUBLISH", b"after restart"])
    assert req.recv_multipart() == [b"PUBLISHED"]
    req.send_multipart([b"QUERY", ids[6], b""])
    reply = req.recv_multipart()
    assert reply[0:2] == [ids[7], b"event 7"] and reply[3:] == [b"after restart", b"END"]
    running.stop()
