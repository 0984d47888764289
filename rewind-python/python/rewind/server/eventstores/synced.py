"""`SyncedRotationEventStores`: every event written to several
`RotatedEventStore`s, rotated together."""

from __future__ import annotations

import threading
from typing import Any, Iterable, List, Optional, Tuple

from rewind.server._storeconfig import (
    ConfigurationError,
    check_config_options,
    construct_section,
)
from rewind.server.eventstores.base import (
    EventStore,
    EventTuple,
    add_all,
    already_exists,
    check_new_keys,
    event_pairs,
    logger,
)
from rewind.server.eventstores.rotated import RotatedEventStore


class SyncedRotationEventStores(EventStore):
    """Writes every event to several `RotatedEventStore`s and rotates them
    together every `events_per_batch` events; queries and `key_exists` are
    answered by the first of them, from all of its batches.

    Built again over the same directories (after `close`, or in a new
    process), it holds the same events and continues in the last batch of
    each store; the count of events towards the next rotation starts again
    at zero, as in the original.
    """

    def __init__(self, events_per_batch: int = 25000) -> None:
        if isinstance(events_per_batch, bool) or not isinstance(events_per_batch, int):
            raise TypeError("Events per batch must be integer.")
        if events_per_batch <= 0:
            raise ValueError("Events per batch must be positive.")
        self.events_per_batch = events_per_batch
        self.count = 0
        self.stores: List[RotatedEventStore] = []
        # Writers take it: the check of a key, the rotation and the writes
        # to every store are one step.
        self._lock = threading.RLock()

    @staticmethod
    def from_config(config: Any, **options: Any) -> "SyncedRotationEventStores":
        """Build from a configuration section: `storage-backends` (required:
        the sections of the rotated stores, separated by spaces) and
        `events_per_batch` (default 25000)."""
        check_config_options(
            "SyncedRotationEventStores",
            ("storage-backends",),
            ("events_per_batch",),
            options,
        )
        events_per_batch = 25000
        if "events_per_batch" in options:
            try:
                events_per_batch = int(options["events_per_batch"])
            except ValueError:
                raise ConfigurationError(
                    "events_per_batch must be an integer: {0}".format(
                        options["events_per_batch"]
                    )
                ) from None
            if events_per_batch <= 0:
                raise ConfigurationError("events_per_batch must be positive.")
        store = SyncedRotationEventStores(events_per_batch)
        try:
            for section in options["storage-backends"].split():
                store.add_rotated_store(construct_section(config, section))
        except BaseException:
            store.close()
            raise
        if not store.stores:
            raise ConfigurationError("storage-backends names no section.")
        return store

    def add_rotated_store(self, rotated_store: RotatedEventStore) -> None:
        """Add a store that is to be written and rotated with the others."""
        with self._lock:
            if self.count != 0:
                raise ValueError("Must not have written before adding additional estores")
            self.stores.append(rotated_store)

    def _rotate_files_if_needed(self) -> None:
        if self.count >= self.events_per_batch:
            logger.debug(
                "Rotating because number of events(=%s) exceeds %s.",
                self.count,
                self.events_per_batch,
            )
            for store in self.stores:
                store.rotate()
            self.count = 0

    def add_event(self, key: str, event: bytes) -> None:
        """Add an event to every store, rotating them first when the batch is
        full."""
        with self._lock:
            if self.key_exists(key):
                raise already_exists(key)
            self._rotate_files_if_needed()
            for store in self.stores:
                store.add_event(key, event)
            self.count += 1

    def add_events(self, events: Iterable[Tuple[str, bytes]]) -> None:
        """Add several `(key, event)` pairs to every store, each store taking
        them all or none (see `RotatedEventStore.add_events`).

        The events go to one file of each store: the stores rotate first
        when the batch is full, never in the middle of the events, so a batch
        may end up with more than `events_per_batch` events. The keys are
        checked before anything is written; if a later store fails after an
        earlier one took the events, the stores disagree (as when
        `add_event` fails in a later store).
        """
        pairs = event_pairs(events)
        if not pairs:
            return
        with self._lock:
            check_new_keys(pairs, self.key_exists)
            self._rotate_files_if_needed()
            for store in self.stores:
                add_all(store, pairs)
            self.count += len(pairs)

    def _first(self) -> RotatedEventStore:
        if not self.stores:
            raise ValueError("SyncedRotationEventStores has no stores (or is closed).")
        return self.stores[0]

    def key_exists(self, key: str) -> bool:
        """Whether the key was added, to any batch (asks the first store)."""
        return self._first().key_exists(key)

    def get_events(
        self, from_: Optional[str] = None, to: Optional[str] = None
    ) -> List[EventTuple]:
        """Query a slice of the events, from the first store: a list of
        `(key, event)` pairs, read at once (it stays valid after the stores
        are closed)."""
        events = self._first().get_events(from_, to)
        return events if isinstance(events, list) else list(events)

    def close(self) -> None:
        """Close every store."""
        with self._lock:
            stores, self.stores = self.stores, []
            for store in stores:
                store.close()
