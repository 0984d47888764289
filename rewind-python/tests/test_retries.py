"""Appends sent again to an event store written in Python: an append whose
events the store holds already, as they are, is a retry (it succeeds with
the original versions and writes nothing); one that differs is a duplicate.

The appends go through `rewind._native._store_over_event_store`, the backend
the server serves such a store with."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, List, Tuple

import pytest

import rewind
from rewind import ExpectedVersion, _native
from rewind.server.eventstores import LogEventStore, SQLiteEventStore


class CountingSQLite(SQLiteEventStore):
    """Counts the events written to it."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.written = 0

    def add_event(self, key: str, event: bytes) -> None:
        self.written += 1
        super().add_event(key, event)

    def add_events(self, events: Iterable[Tuple[str, bytes]]) -> None:
        events = list(events)
        self.written += len(events)
        super().add_events(events)


def pairs(*keys: str) -> List[Tuple[str, bytes]]:
    return [(k, "data of {0}".format(k).encode()) for k in keys]


def test_an_append_sent_again_is_a_retry(tmp_path: Path) -> None:
    estore = CountingSQLite(str(tmp_path / "db.sqlite"))
    store = _native._store_over_event_store(estore)
    first = store.append("default", pairs("a", "b"), ExpectedVersion.NO_STREAM)
    store.append("default", pairs("c"))
    assert estore.written == 3
    again = store.append("default", pairs("a", "b"), ExpectedVersion.NO_STREAM)
    assert [(x.id, x.version, x.position) for x in again] == [
        (x.id, x.version, x.position) for x in first
    ]
    one = store.append("default", pairs("b"), ExpectedVersion.exact(0))
    assert [(x.id, x.version) for x in one] == [(b"b", 1)]
    assert estore.written == 3, "a retry writes nothing"
    assert list(estore.get_events()) == pairs("a", "b", "c")
    store.close()
    estore.close()


@pytest.mark.parametrize(
    "events, expected, named",
    [
        ([("a", b"changed")], ExpectedVersion.NO_STREAM, b"a"),
        (pairs("a", "new"), ExpectedVersion.ANY, b"a"),
        (pairs("b", "a"), ExpectedVersion.ANY, b"a"),
        (pairs("b"), ExpectedVersion.exact(3), b"b"),
    ],
)
def test_an_append_that_differs_is_a_duplicate(
    tmp_path: Path, events: List[Tuple[str, bytes]], expected: ExpectedVersion, named: bytes
) -> None:
    estore = LogEventStore(str(tmp_path / "events.log"))
    store = _native._store_over_event_store(estore)
    store.append("default", pairs("a", "b"))
    with pytest.raises(rewind.DuplicateIdError) as info:
        store.append("default", events, expected)
    assert info.value.id == named
    assert list(estore.get_events()) == pairs("a", "b")
    store.close()
    estore.close()
