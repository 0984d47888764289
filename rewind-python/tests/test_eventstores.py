"""rewind.server.eventstores: the original event store API, class by class."""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Callable, Iterator, List, Tuple

import pytest

import rewind
from rewind.server import eventstores
from rewind.server.eventstores import (
    CorruptionError,
    EventOrderError,
    EventStore,
    EventStoreError,
    InMemoryEventStore,
    LMDBEventStore,
    LogEventStore,
    RotatedEventStore,
    SQLiteEventStore,
    SyncedRotationEventStores,
)


def test_exception_hierarchy() -> None:
    assert issubclass(EventStoreError, KeyError)
    assert issubclass(EventOrderError, IndexError)
    assert issubclass(CorruptionError, Exception)
    assert issubclass(EventStore.EventKeyAlreadyExistError, EventStoreError)
    assert issubclass(EventStore.EventKeyDoesNotExistError, EventStoreError)
    # The nested classes are shared by every store class.
    assert InMemoryEventStore.EventKeyDoesNotExistError is EventStore.EventKeyDoesNotExistError


def test_base_class_methods_are_stubs() -> None:
    estore = EventStore()
    with pytest.raises(NotImplementedError):
        estore.add_event("key", b"event")
    with pytest.raises(NotImplementedError):
        estore.get_events()
    with pytest.raises(NotImplementedError):
        estore.get_events("from")
    with pytest.raises(NotImplementedError):
        estore.get_events("from", "to")
    with pytest.raises(NotImplementedError):
        estore.key_exists("key")
    estore.close()  # does nothing, raises nothing


# Every store, built fresh in a temporary directory.
Factory = Callable[[Path], EventStore]


def _rotated_sqlite(tmp: Path) -> EventStore:
    return RotatedEventStore(SQLiteEventStore, str(tmp / "db"), "sqlite")


def _synced(tmp: Path) -> EventStore:
    store = SyncedRotationEventStores(7)
    store.add_rotated_store(RotatedEventStore(SQLiteEventStore, str(tmp / "db"), "db"))
    store.add_rotated_store(RotatedEventStore(LogEventStore, str(tmp / "log"), "log"))
    return store


STORES = {
    "InMemoryEventStore": lambda tmp: InMemoryEventStore(),
    "LMDBEventStore": lambda tmp: LMDBEventStore(str(tmp / "lmdb")),
    "SQLiteEventStore": lambda tmp: SQLiteEventStore(str(tmp / "db.sqlite")),
    "LogEventStore": lambda tmp: LogEventStore(str(tmp / "events.log")),
    "RotatedEventStore": _rotated_sqlite,
    "SyncedRotationEventStores": _synced,
}


@pytest.fixture(params=sorted(STORES))
def estore(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    store = STORES[request.param](tmp_path)
    yield store
    store.close()


def _populate(store: EventStore, n: int = 20) -> List[Tuple[str, bytes]]:
    items = [("key-{0}".format(i), "event {0}".format(i + 30).encode()) for i in range(n)]
    for i, (key, event) in enumerate(items):
        store.add_event(key, event)
        if isinstance(store, RotatedEventStore) and i % 6 == 5:
            store.rotate()
    return items


def test_query_all(estore: EventStore) -> None:
    items = _populate(estore)
    assert list(estore.get_events()) == items
    assert list(estore.get_events(None, None)) == items
    # An empty key means no bound, as in the original.
    assert list(estore.get_events("", "")) == items


def test_query_after_is_exclusive(estore: EventStore) -> None:
    items = _populate(estore)
    assert list(estore.get_events(from_=items[0][0])) == items[1:]
    assert list(estore.get_events(from_=items[1][0])) == items[2:]
    assert list(estore.get_events(from_=items[-1][0])) == []


def test_query_before_is_inclusive(estore: EventStore) -> None:
    items = _populate(estore)
    assert list(estore.get_events(to=items[-1][0])) == items
    assert list(estore.get_events(to=items[-2][0])) == items[:-1]
    assert list(estore.get_events(to=items[0][0])) == items[:1]


def test_query_between(estore: EventStore) -> None:
    items = _populate(estore)
    assert list(estore.get_events(items[1][0], items[-2][0])) == items[2:-1]
    assert list(estore.get_events(items[3][0], items[3][0])) == []
    assert list(estore.get_events(items[3][0], items[4][0])) == items[4:5]
    for a in range(0, 20, 3):
        for b in range(a, 20, 4):
            assert list(estore.get_events(items[a][0], items[b][0])) == items[a + 1 : b + 1]


def test_unknown_keys_raise(estore: EventStore) -> None:
    _populate(estore)
    with pytest.raises(EventStore.EventKeyDoesNotExistError):
        estore.get_events(from_="nonexistent")
    with pytest.raises(EventStore.EventKeyDoesNotExistError):
        estore.get_events(to="nonexistent")
    with pytest.raises(EventStoreError):
        estore.get_events("nonexistent", "key-3")


def test_from_after_to_raises(estore: EventStore) -> None:
    items = _populate(estore)
    with pytest.raises(EventOrderError):
        estore.get_events(items[5][0], items[2][0])
    with pytest.raises(EventOrderError):
        estore.get_events(items[17][0], items[2][0])


def test_duplicate_key_raises(estore: EventStore) -> None:
    items = _populate(estore, 3)
    with pytest.raises(EventStore.EventKeyAlreadyExistError):
        estore.add_event(items[-1][0], b"again")
    assert list(estore.get_events()) == items


def test_key_exists(estore: EventStore) -> None:
    assert not estore.key_exists("key-0")
    items = _populate(estore, 4)
    for key, _ in items:
        assert estore.key_exists(key)
    assert not estore.key_exists("key-99")


def test_empty_store(estore: EventStore) -> None:
    assert list(estore.get_events()) == []


@pytest.mark.parametrize("size", [0, 1, 57, 58, 1000, 100000])
def test_arbitrary_binary_data(estore: EventStore, size: int) -> None:
    data = bytes((i * 7 + 3) % 256 for i in range(size))
    estore.add_event("bin", data)
    estore.add_event("text", "åäö \u2603".encode("utf-8"))
    assert list(estore.get_events()) == [("bin", data), ("text", "åäö \u2603".encode())]


def test_get_events_reads_a_list_at_once(estore: EventStore) -> None:
    items = _populate(estore, 5)
    events = estore.get_events()
    assert isinstance(events, list)
    assert len(events) == 5 and events[0] == items[0] and events[-1] == items[-1]
    estore.add_event("later", b"not in the earlier result")
    assert list(events) == list(events) == items


# Persistence: reopening a file store.

PERSISTENT = {
    "LMDBEventStore": lambda tmp: LMDBEventStore(str(tmp / "lmdb")),
    "SQLiteEventStore": lambda tmp: SQLiteEventStore(str(tmp / "db.sqlite")),
    "LogEventStore": lambda tmp: LogEventStore(str(tmp / "events.log")),
    "RotatedEventStore": _rotated_sqlite,
    "SyncedRotationEventStores": _synced,
}


@pytest.mark.parametrize("name", sorted(PERSISTENT))
def test_reopening_keeps_events(name: str, tmp_path: Path) -> None:
    store = PERSISTENT[name](tmp_path)
    items = _populate(store)
    store.close()
    for _ in range(2):
        store = PERSISTENT[name](tmp_path)
        assert list(store.get_events()) == items
        store.close()
    store = PERSISTENT[name](tmp_path)
    store.add_event("after", b"reopen")
    assert list(store.get_events(items[-1][0])) == [("after", b"reopen")]
    store.close()


# InMemoryEventStore and LMDBEventStore: over the storage engine.


def test_native_stores_use_the_default_stream(tmp_path: Path) -> None:
    estore = LMDBEventStore(str(tmp_path / "lmdb"))
    estore.add_event("a", b"1")
    assert estore.stream == b"default"
    assert [e.data for e in estore.store.read_stream(b"default")] == [b"1"]
    # Other streams of the same store are not part of the event store.
    estore.store.append(b"other", [(b"b", b"2")])
    assert list(estore.get_events()) == [("a", b"1")]
    assert estore.count() == 1
    estore.close()
    with pytest.raises(rewind.ClosedError):
        estore.add_event("c", b"3")


def test_lmdb_event_store_stream_and_size_limit(tmp_path: Path) -> None:
    estore = LMDBEventStore(tmp_path / "lmdb", stream="events", map_size_limit=1 << 20)
    estore.add_event("a", b"1")
    assert estore.store.stream_head(b"events").id == b"a"
    with pytest.raises(rewind.StorageFullError):
        for i in range(100):
            estore.add_event("big-{0}".format(i), os.urandom(64 << 10))
    estore.close()


def test_native_store_keys_must_be_text_or_bytes() -> None:
    estore = InMemoryEventStore()
    estore.add_event(b"bytes-key", b"1")
    assert list(estore.get_events()) == [("bytes-key", b"1")]
    with pytest.raises(TypeError):
        estore.add_event(12, b"x")
    with pytest.raises(TypeError):
        estore.add_event("k", 12)
    with pytest.raises(ValueError):
        estore.add_event("", b"empty keys are not ids")


def test_in_memory_store_takes_str_events() -> None:
    estore = InMemoryEventStore()
    estore.add_event("k", "text")
    assert list(estore.get_events()) == [("k", b"text")]


# SQLiteEventStore


def test_sqlite_checksum_is_written_on_close(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = SQLiteEventStore(str(path))
    _populate(store, 3)
    store.close()
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    assert (tmp_path / "checksums.md5").read_text() == "db.sqlite {0}\n".format(md5)
    assert store.count
    SQLiteEventStore(str(path)).close()


def test_sqlite_wrong_checksum_refuses_to_open(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = SQLiteEventStore(str(path))
    store.add_event("a", b"1")
    store.close()
    (tmp_path / "checksums.md5").write_text("db.sqlite 0123456789abcdef0123456789abcdef\n")
    with pytest.raises(CorruptionError):
        SQLiteEventStore(str(path))


def test_sqlite_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    path.write_bytes(b"garbage " * 1000)
    with pytest.raises(CorruptionError):
        SQLiteEventStore(str(path))


def test_sqlite_count_and_closed_use(tmp_path: Path) -> None:
    store = SQLiteEventStore(str(tmp_path / "db.sqlite"))
    _populate(store, 4)
    assert store.count() == 4
    store.close()
    store.close()  # harmless
    with pytest.raises(ValueError):
        store.add_event("x", b"y")


def test_sqlite_large_ranges_are_paged(tmp_path: Path) -> None:
    store = SQLiteEventStore(str(tmp_path / "db.sqlite"))
    items = _populate(store, 1300)
    assert list(store.get_events(items[10][0], items[1250][0])) == items[11:1251]
    store.close()


# LogEventStore


def test_log_keys_must_be_alphanumeric_or_dash(tmp_path: Path) -> None:
    store = LogEventStore(str(tmp_path / "log"))
    for bad in ["with space", "tab\there", "new\nline", "slash/"]:
        with pytest.raises(ValueError):
            store.add_event(bad, b"x")
    store.add_event("abc-DEF-123", b"x")
    store.close()


def test_log_checksum(tmp_path: Path) -> None:
    path = tmp_path / "events.log"
    store = LogEventStore(str(path))
    _populate(store, 3)
    store.close()
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    assert "events.log {0}\n".format(md5) in (tmp_path / "checksums.md5").read_text()
    # Changing the closed file is detected.
    with open(path, "ab") as f:
        f.write(b"evil\tZXZpbA==\n")
    with pytest.raises(CorruptionError):
        LogEventStore(str(path))


def test_log_count_and_closed_use(tmp_path: Path) -> None:
    store = LogEventStore(str(tmp_path / "log"))
    _populate(store, 4)
    assert store.count() == 4
    store.close()
    with pytest.raises(ValueError):
        store.add_event("x", b"y")


def test_log_with_a_torn_base64_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"a\tAAA*\n")
    store = LogEventStore(str(path))
    with pytest.raises(CorruptionError):
        list(store.get_events())
    store.close()


def test_log_not_starting_with_an_event_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"AAAA\n")
    with pytest.raises(CorruptionError):
        LogEventStore(str(path))


# RotatedEventStore


def test_rotation_writes_numbered_files_and_checksums(tmp_path: Path) -> None:
    dirpath = tmp_path / "rot"
    store = RotatedEventStore(LogEventStore, str(dirpath), "appendlog")
    assert dirpath.is_dir()
    store.add_event("a", b"1")
    store.rotate()
    store.add_event("b", b"2")
    store.rotate()
    store.add_event("c", b"3")
    assert store.batchno == 2
    assert list(store.get_events()) == [("a", b"1"), ("b", b"2"), ("c", b"3")]
    assert list(store.get_events("a", "b")) == [("b", b"2")]
    assert list(store.get_events("a")) == [("b", b"2"), ("c", b"3")]
    assert list(store.get_events(None, "b")) == [("a", b"1"), ("b", b"2")]
    # key_exists looks in every file, the older ones too.
    assert store.key_exists("c") and store.key_exists("b") and store.key_exists("a")
    assert not store.key_exists("d")
    store.close()
    assert sorted(os.listdir(dirpath)) == ["appendlog.0", "appendlog.1", "appendlog.2", "checksums.md5"]
    sums = dict(line.split(" ") for line in (dirpath / "checksums.md5").read_text().splitlines())
    for name, md5 in sums.items():
        assert hashlib.md5((dirpath / name).read_bytes()).hexdigest() == md5
    # Reopening continues in the last file.
    store = RotatedEventStore(LogEventStore, str(dirpath), "appendlog")
    assert store.batchno == 2
    store.close()


def test_rotation_ignores_and_reports_unknown_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dirpath = tmp_path / "rot"
    dirpath.mkdir()
    (dirpath / "stranger").write_text("x")
    (dirpath / "db.3").write_bytes(b"")
    (dirpath / "db.3-journal").write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        store = RotatedEventStore(SQLiteEventStore, str(dirpath), "db")
    assert store.batchno == 3
    assert "stranger" in caplog.text
    store.close()


def test_rotated_unknown_keys(tmp_path: Path) -> None:
    store = RotatedEventStore(SQLiteEventStore, str(tmp_path / "rot"), "db")
    store.add_event("a", b"1")
    store.rotate()
    with pytest.raises(EventStore.EventKeyDoesNotExistError):
        store.get_events("missing")
    with pytest.raises(EventStore.EventKeyDoesNotExistError):
        store.get_events(None, "missing")
    store.close()
    with pytest.raises(ValueError):
        store.add_event("late", b"x")


# SyncedRotationEventStores


def test_synced_rotation_rotates_every_batch(tmp_path: Path) -> None:
    store = _synced(tmp_path)
    items = _populate(store, 20)
    assert store.count == 20 - 14
    store.close()
    for sub, prefix in (("db", "db"), ("log", "log")):
        names = sorted(os.listdir(tmp_path / sub))
        assert names == ["checksums.md5"] + ["{0}.{1}".format(prefix, i) for i in range(3)]
    # The log copies hold the same events.
    log = RotatedEventStore(LogEventStore, str(tmp_path / "log"), "log")
    assert list(log.get_events()) == items
    log.close()


def test_synced_rotation_arguments() -> None:
    with pytest.raises(ValueError):
        SyncedRotationEventStores(0)
    with pytest.raises(TypeError):
        SyncedRotationEventStores("5")  # type: ignore[arg-type]
    store = SyncedRotationEventStores()
    assert store.events_per_batch == 25000
    with pytest.raises(ValueError):
        store.get_events()


def test_synced_rotation_must_not_add_stores_after_writing(tmp_path: Path) -> None:
    store = _synced(tmp_path)
    store.add_event("a", b"1")
    late = RotatedEventStore(SQLiteEventStore, str(tmp_path / "x"), "x")
    with pytest.raises(ValueError):
        store.add_rotated_store(late)
    late.close()
    store.close()


def test_module_exports_the_original_names() -> None:
    for name in [
        "EventStoreError",
        "EventOrderError",
        "CorruptionError",
        "EventStore",
        "InMemoryEventStore",
        "SQLiteEventStore",
        "LogEventStore",
        "RotatedEventStore",
        "SyncedRotationEventStores",
        "LMDBEventStore",
    ]:
        assert hasattr(eventstores, name)
