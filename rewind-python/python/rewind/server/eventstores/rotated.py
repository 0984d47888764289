"""`RotatedEventStore`: events in a series of batches `PREFIX.0`,
`PREFIX.1`, … in a directory, each batch an event store of its own, opened
through the factory the rotated store was given."""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from rewind.server._storeconfig import check_config_options, load_class
from rewind.server.eventstores._checksums import CHECKSUM_FILENAME
from rewind.server.eventstores.base import (
    EventOrderError,
    EventStore,
    EventTuple,
    add_all,
    event_pairs,
    key_arg,
    logger,
    optional_key,
)


class RotatedEventStore(EventStore):
    """Stores events in a series of batches, `PREFIX.0`, `PREFIX.1`, … in a
    directory; `rotate()` closes the current batch and starts the next.

    estore_factory -- called with a batch's path, `DIRPATH/PREFIX.N`,
                      returns the event store of that batch: a store class
                      that takes a path (such as `SQLiteEventStore` or
                      `LogEventStore`), or any callable.
    dirpath        -- the directory (created if missing).
    prefix         -- the batches' name prefix.

    The batches are found with `os.listdir` on the directory: the store
    continues in the batch with the highest number. New events go to that,
    the current batch, which stays open. Queries and `key_exists` span every
    batch from `PREFIX.0` on: an older batch is opened through
    `estore_factory` when it is read, and closed again before the call
    returns. The older batches do not change once rotated, so their keys are
    read once (when a key is first looked for outside the current batch)
    and kept in memory.
    """

    def __init__(
        self, estore_factory: Callable[[str], EventStore], dirpath: str, prefix: str
    ) -> None:
        self.dirpath = os.fspath(dirpath)
        self.prefix = prefix
        self._logger = logger.getChild(prefix)
        self._lock = threading.RLock()
        if not os.path.exists(self.dirpath):
            self._logger.info("Creating rotated eventstore directory: %s", self.dirpath)
            os.mkdir(self.dirpath)
            batchno = 0
        else:
            batchno = self._determine_batchno()
        self.estore_factory = estore_factory
        self.batchno = batchno
        # The batch of every key of the batches before `_indexed`.
        self._older_keys: Dict[str, int] = {}
        self._indexed = 0
        self.estore: Optional[EventStore] = self._open_event_store()

    @staticmethod
    def from_config(_config: Any, **options: Any) -> "RotatedEventStore":
        """Build from a configuration section: `realclass` (the class of each
        batch's store), `path` (the directory) and `prefix`, all required."""
        check_config_options(
            "RotatedEventStore", ("realclass", "path", "prefix"), (), options
        )
        realclass = load_class(options["realclass"])
        return RotatedEventStore(realclass, options["path"], options["prefix"])

    def _determine_batchno(self) -> int:
        batchnos = []
        unknown = []
        lead = self.prefix + "."
        for fname in os.listdir(self.dirpath):
            if fname in (CHECKSUM_FILENAME, CHECKSUM_FILENAME + ".tmp"):
                continue
            suffix = fname[len(lead):] if fname.startswith(lead) else None
            if suffix is not None and suffix.isdigit():
                batchnos.append(int(suffix))
            elif suffix is None:
                unknown.append(fname)
        if unknown:
            self._logger.warning(
                "The following files could not be identified (lacking prefix '%s'): %s",
                self.prefix,
                ", ".join(sorted(unknown)),
            )
        return max(batchnos) if batchnos else 0

    def _construct_filename(self, batchno: int) -> str:
        return os.path.join(self.dirpath, "{0}.{1}".format(self.prefix, batchno))

    def _open_event_store(self, batchno: Optional[int] = None) -> EventStore:
        batchno = self.batchno if batchno is None else batchno
        return self.estore_factory(self._construct_filename(batchno))

    def _current(self) -> EventStore:
        if self.estore is None:
            raise ValueError("The event store is closed: {0}".format(self.dirpath))
        return self.estore

    def rotate(self) -> None:
        """Close the current batch and continue in the next one."""
        with self._lock:
            self._logger.info(
                "Rotating data files. New batch number will be: %s", self.batchno + 1
            )
            self._current().close()
            self.estore = None
            self.batchno += 1
            self.estore = self._open_event_store()

    def add_event(self, key: str, event: bytes) -> None:
        """Add an event to the current batch."""
        with self._lock:
            self._current().add_event(key, event)

    def add_events(self, events: Iterable[Tuple[str, bytes]]) -> None:
        """Add several `(key, event)` pairs to the current batch: all or none
        when the store of the batch has an `add_events` of its own (the
        package's stores do); otherwise one `add_event` at a time, so a
        failure keeps the events before it."""
        with self._lock:
            add_all(self._current(), event_pairs(events))

    def _read_older(
        self, batchno: int, from_: Optional[str], to: Optional[str]
    ) -> List[EventTuple]:
        """The events of the older batch `batchno`, opened through the
        factory and closed again."""
        store = self._open_event_store(batchno)
        try:
            return list(store.get_events(from_, to))
        finally:
            store.close()

    def _find_batch_containing_event(self, key: str) -> Optional[int]:
        """The batch that holds `key`, or None."""
        if self._current().key_exists(key):
            return self.batchno
        # The batches rotated since the last look (all of them, the first
        # time): read their keys, once.
        while self._indexed < self.batchno:
            batchno = self._indexed
            for k, _ in self._read_older(batchno, None, None):
                self._older_keys[k] = batchno
            self._indexed += 1
        return self._older_keys.get(key)

    def get_events(
        self, from_: Optional[str] = None, to: Optional[str] = None
    ) -> List[EventTuple]:
        """Query a slice of the events across the batches, in the order they
        were added: a list of `(key, event)` pairs, read at once (it stays
        valid after the store is closed). `from_` and `to` may be in any
        batch."""
        from_ = optional_key(from_, "from_")
        to = optional_key(to, "to")
        with self._lock:
            current = self._current()
            if from_ is not None:
                frombatch = self._find_batch_containing_event(from_)
                if frombatch is None:
                    raise EventStore.EventKeyDoesNotExistError("from_={0}".format(from_))
            else:
                frombatch = 0
            if to is not None:
                tobatch = self._find_batch_containing_event(to)
                if tobatch is None:
                    raise EventStore.EventKeyDoesNotExistError("to={0}".format(to))
            else:
                tobatch = self.batchno
            if frombatch > tobatch:
                raise EventOrderError("'to' happened chronologically before 'from_'.")
            # Within one batch, its store checks the order itself.
            events: List[EventTuple] = []
            for batchno in range(frombatch, tobatch + 1):
                lower = from_ if batchno == frombatch else None
                upper = to if batchno == tobatch else None
                if batchno == self.batchno:
                    events.extend(current.get_events(lower, upper))
                else:
                    events.extend(self._read_older(batchno, lower, upper))
            return events

    def key_exists(self, key: str) -> bool:
        """Whether an event with this key was added, to any batch."""
        with self._lock:
            return self._find_batch_containing_event(key_arg(key)) is not None

    def close(self) -> None:
        """Close the current batch."""
        with self._lock:
            if self.estore is not None:
                self.estore.close()
                self.estore = None
