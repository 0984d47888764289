"""rewind.server.eventstores as code written for the original Rewind 0.3.1
uses it: the abstract `EventStore`, and `get_events` results that are read
at once (and outlive the store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

from conftest import make_config
from rewind.server.eventstores import (
    EventOrderError,
    EventStore,
    InMemoryEventStore,
    LMDBEventStore,
    LogEventStore,
    SQLiteEventStore,
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


# get_events of every store: a list, read when called, valid after close.


OPENERS: Dict[str, Callable[[Path], EventStore]] = {
    "LMDBEventStore": lambda tmp: LMDBEventStore(str(tmp / "lmdb")),
    "SQLiteEventStore": lambda tmp: SQLiteEventStore(str(tmp / "db.sqlite")),
    "LogEventStore": lambda tmp: LogEventStore(str(tmp / "events.log")),
}


def _fill(store: EventStore, events: Events) -> None:
    for i, (key, event) in enumerate(events):
        store.add_event(key, event)


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
