"""The event store protocol: the `EventStore` base class, the errors stores
raise, and how stores take their arguments.

Every store of the package, and a store class of a user's own, derives from
`EventStore`. The helpers here convert keys and events the way every
built-in store accepts them (a key is a `str`, or UTF-8 bytes; an event is
bytes, or a `str` stored as UTF-8).
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable, List, Optional, Sequence, Set, Tuple

#: The logger of every event store (the records keep the name they had when
#: the stores were one module).
logger = logging.getLogger("rewind.server.eventstores")

Key = str
EventTuple = Tuple[str, bytes]


class EventStoreError(KeyError):
    """An error about the keys of an event store."""


class EventOrderError(IndexError):
    """A query's `from_` event was added after its `to` event."""


class CorruptionError(Exception):
    """The files of an event store are damaged (a wrong checksum, a file
    that is not what it should be)."""


class EventStore(object):
    """Stores events and keeps track of their order.

    The base class of every event store; it documents the methods a store
    implements. A class of your own that implements them (and a static
    `from_config(config, **options)`) can be named in the configuration file
    and is served by the server like the built-in ones.

    A store may also have a method `add_events(events)` that adds several
    `(key, event)` pairs all or nothing (see the `rewind.server.eventstores`
    documentation); this base class has none, so a store without one gets
    appends of several events one `add_event` at a time.
    """

    class EventKeyAlreadyExistError(EventStoreError):
        """Raised when adding an event with a key already in the store."""

    class EventKeyDoesNotExistError(EventStoreError):
        """Raised when querying with a key that is not in the store."""

    @staticmethod
    def from_config(*args: Any, **options: Any) -> "EventStore":
        """Build the store from a section of the configuration file; called
        as `from_config(config, **options)` with the whole configuration and
        the section's options (all but `class`). A store class implements it
        as a static method; the signature here lets it name the parameters
        as it likes."""
        raise NotImplementedError("Should be implemented by subclass.")

    def add_event(self, key: str, event: bytes) -> None:
        """Add an event under `key` (a `str`); `event` is its data (`bytes`)."""
        raise NotImplementedError("Should be implemented by subclass.")

    def get_events(
        self, from_: Optional[str] = None, to: Optional[str] = None
    ) -> Sequence[EventTuple]:
        """Query for events, in the order they were added.

        from_ -- return events added after the event `from_` (exclusive);
                 None: from the first event.
        to    -- return events up to and including the event `to`; None: up
                 to the last event.

        Returns a sequence of `(key, event)` tuples, read when this is
        called: it has a `len()`, may be iterated over any number of times,
        and stays valid after the store is closed. Raises
        `EventKeyDoesNotExistError` for an unknown `from_` or `to`, and
        `EventOrderError` when `from_` was added after `to`.
        """
        raise NotImplementedError("Should be implemented by subclass.")

    def key_exists(self, key: str) -> bool:
        """Whether an event with this key was added."""
        raise NotImplementedError("Should be implemented by subclass.")

    def close(self) -> None:
        """Close the store. May be overridden if necessary; here it does
        nothing."""


def key_arg(key: Any, what: str = "key") -> str:
    """A key given as `str` or UTF-8 bytes, as a `str`."""
    if isinstance(key, str):
        return key
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key).decode("utf-8")
    raise TypeError("{0} must be a str, not {1}".format(what, type(key).__name__))


def optional_key(key: Any, what: str) -> Optional[str]:
    """A query bound: as in the original, an empty key is the same as none."""
    if key is None:
        return None
    key = key_arg(key, what)
    return key if key else None


def event_arg(event: Any) -> bytes:
    """An event given as bytes-like or `str` (stored as UTF-8), as bytes."""
    if isinstance(event, bytes):
        return event
    if isinstance(event, (bytearray, memoryview)):
        return bytes(event)
    if isinstance(event, str):
        return event.encode("utf-8")
    raise TypeError("event must be bytes, not {0}".format(type(event).__name__))


def event_pairs(events: Iterable[Tuple[Any, Any]]) -> List[EventTuple]:
    """The `(key, event)` pairs given to an `add_events`, converted as
    `add_event` converts its arguments."""
    pairs = []
    for pair in events:
        key, event = pair
        pairs.append((key_arg(key), event_arg(event)))
    return pairs


def already_exists(key: str) -> "EventStore.EventKeyAlreadyExistError":
    """The error for adding an event whose key is taken."""
    return EventStore.EventKeyAlreadyExistError("The key already existed: {0}".format(key))


def check_new_keys(pairs: Iterable[EventTuple], taken: Callable[[str], bool]) -> None:
    """Raises `EventKeyAlreadyExistError` for the first key of `pairs` that
    `taken(key)` reports as in the store, or that appears twice in `pairs`."""
    seen: Set[str] = set()
    for key, _ in pairs:
        if key in seen or taken(key):
            raise already_exists(key)
        seen.add(key)


def add_all(store: Any, pairs: List[EventTuple]) -> None:
    """Adds `pairs` to `store`: with its `add_events` when it has one (all
    or none), otherwise one `add_event` at a time (a failure keeps the
    events before it)."""
    add_events = getattr(store, "add_events", None)
    if callable(add_events):
        add_events(pairs)
        return
    for key, event in pairs:
        store.add_event(key, event)
