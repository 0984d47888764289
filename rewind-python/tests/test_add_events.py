"""`add_events` of the package's event stores: several events added all or
none."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

from faults import HalfWriter, fail_on, rows
from rewind.server.eventstores import (
    EventStore,
    InMemoryEventStore,
    LMDBEventStore,
    LogEventStore,
    RotatedEventStore,
    SQLiteEventStore,
    SyncedRotationEventStores,
)

Pairs = List[Tuple[str, bytes]]


def pairs(*keys: str) -> Pairs:
    return [(k, "data of {0}".format(k).encode()) for k in keys]


def events(estore: EventStore) -> Pairs:
    return list(estore.get_events())


def _rotated(tmp: Path) -> EventStore:
    return RotatedEventStore(SQLiteEventStore, str(tmp / "rot"), "db")


def _synced(tmp: Path) -> SyncedRotationEventStores:
    store = SyncedRotationEventStores(4)
    store.add_rotated_store(RotatedEventStore(SQLiteEventStore, str(tmp / "db"), "db"))
    store.add_rotated_store(RotatedEventStore(LogEventStore, str(tmp / "log"), "log"))
    return store


STORES: Dict[str, Callable[[Path], Any]] = {
    "InMemoryEventStore": lambda tmp: InMemoryEventStore(),
    "LMDBEventStore": lambda tmp: LMDBEventStore(str(tmp / "lmdb")),
    "SQLiteEventStore": lambda tmp: SQLiteEventStore(str(tmp / "db.sqlite")),
    "LogEventStore": lambda tmp: LogEventStore(str(tmp / "events.log")),
    "RotatedEventStore": _rotated,
    "SyncedRotationEventStores": _synced,
}


@pytest.mark.parametrize("name", sorted(STORES))
def test_add_events_is_all_or_none(name: str, tmp_path: Path) -> None:
    estore = STORES[name](tmp_path)
    estore.add_events(pairs("a", "b"))
    estore.add_events([])
    estore.add_events(iter([("c", "text"), (b"d", bytearray(b"\x00\xff"))]))
    expected = pairs("a", "b") + [("c", b"text"), ("d", b"\x00\xff")]
    assert events(estore) == expected
    for bad in (pairs("x", "y", "x"), pairs("x", "c"), pairs("x", "y", "a")):
        with pytest.raises(EventStore.EventKeyAlreadyExistError):
            estore.add_events(bad)
        assert events(estore) == expected
        assert not estore.key_exists("x")
    estore.close()


def test_log_add_events_checks_every_key_first(tmp_path: Path) -> None:
    estore = LogEventStore(str(tmp_path / "events.log"))
    with pytest.raises(ValueError):
        estore.add_events(pairs("good", "not good"))
    assert events(estore) == [] and os.path.getsize(tmp_path / "events.log") == 0
    estore.close()


def test_synced_stores_never_rotate_in_the_middle_of_an_append(tmp_path: Path) -> None:
    estore = _synced(tmp_path)  # 4 events per batch
    estore.add_events(pairs("a", "b", "c"))
    estore.add_events(pairs("d", "e", "f"))  # the batch is not full yet: 6 events in file 0
    estore.add_events(pairs("g"))  # full: rotates first
    estore.close()
    for sub in ("db", "log"):
        assert sorted(os.listdir(tmp_path / sub)) == ["checksums.md5", sub + ".0", sub + ".1"]
    first = SQLiteEventStore(str(tmp_path / "db" / "db.0"))
    assert [k for k, _ in first.get_events()] == ["a", "b", "c", "d", "e", "f"]
    first.close()
    log = RotatedEventStore(LogEventStore, str(tmp_path / "log"), "log")
    assert events(log) == pairs("a", "b", "c", "d", "e", "f", "g")
    log.close()


def test_sqlite_add_events_rolls_back_a_failure_in_the_middle(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    estore = SQLiteEventStore(str(path))
    estore.add_events(pairs("a", "b"))
    fail_on(estore, "boom")
    with pytest.raises(sqlite3.OperationalError):
        estore.add_events(pairs("c", "d", "boom", "e"))
    assert rows(path) == ["a", "b"]
    assert not estore.key_exists("c")
    estore.add_events(pairs("c", "d"))
    assert rows(path) == ["a", "b", "c", "d"]
    estore.close()


def test_log_add_events_cuts_a_failed_write_off_the_file(tmp_path: Path) -> None:
    path = tmp_path / "events.log"
    estore = LogEventStore(str(path))
    estore.add_events(pairs("a", "b"))
    size = os.path.getsize(path)
    estore.f = HalfWriter(estore.f)
    with pytest.raises(OSError):
        estore.add_events(pairs("c", "d", "e"))
    assert os.path.getsize(path) == size
    assert events(estore) == pairs("a", "b") and not estore.key_exists("c")
    estore.add_event("c", b"after")  # the file was reopened
    estore.close()
    reopened = LogEventStore(str(path))  # the checksum matches
    assert events(reopened) == pairs("a", "b") + [("c", b"after")]
    reopened.close()
