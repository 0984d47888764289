"""`RotatedEventStore`: events in a series of files `PREFIX.0`, `PREFIX.1`,
… in a directory, each file an event store of its own."""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator, Optional, Tuple

from rewind.server._storeconfig import check_config_options, load_class
from rewind.server.eventstores._checksums import CHECKSUM_FILENAME
from rewind.server.eventstores.base import (
    EventOrderError,
    EventStore,
    EventTuple,
    add_all,
    event_pairs,
    logger,
    optional_key,
)


class RotatedEventStore(EventStore):
    """Stores events in a series of files, `PREFIX.0`, `PREFIX.1`, … in a
    directory; `rotate()` closes the current file and starts the next.

    estore_factory -- called with a file's path, returns the event store of
                      that file (for example `SQLiteEventStore`).
    dirpath        -- the directory (created if missing).
    prefix         -- the files' name prefix.

    New events go to the last file; queries span the files.
    """

    def __init__(
        self, estore_factory: Callable[[str], EventStore], dirpath: str, prefix: str
    ) -> None:
        self.dirpath = os.fspath(dirpath)
        self.prefix = prefix
        self._logger = logger.getChild(prefix)
        if not os.path.exists(self.dirpath):
            self._logger.info("Creating rotated eventstore directory: %s", self.dirpath)
            os.mkdir(self.dirpath)
            batchno = 0
        else:
            batchno = self._determine_batchno()
        self.estore_factory = estore_factory
        self.batchno = batchno
        self.estore: Optional[EventStore] = self._open_event_store()

    @staticmethod
    def from_config(_config: Any, **options: Any) -> "RotatedEventStore":
        """Build from a configuration section: `realclass` (the class of each
        file's store), `path` (the directory) and `prefix`, all required."""
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
        """Close the current file and continue in the next one."""
        self._logger.info(
            "Rotating data files. New batch number will be: %s", self.batchno + 1
        )
        self._current().close()
        self.estore = None
        self.batchno += 1
        self.estore = self._open_event_store()

    def add_event(self, key: str, event: bytes) -> None:
        """Add an event to the current file."""
        self._current().add_event(key, event)

    def add_events(self, events: Iterable[Tuple[str, bytes]]) -> None:
        """Add several `(key, event)` pairs to the current file: all or none
        when the store of the file has an `add_events` of its own (the
        package's file stores do); otherwise one `add_event` at a time, so a
        failure keeps the events before it."""
        add_all(self._current(), event_pairs(events))

    def _find_batch_containing_event(self, key: str) -> Optional[int]:
        if self._current().key_exists(key):
            return self.batchno
        # Later files first: a recent event is the likelier one.
        for batchno in range(self.batchno - 1, -1, -1):
            if not os.path.exists(self._construct_filename(batchno)):
                continue
            store = self._open_event_store(batchno)
            try:
                if store.key_exists(key):
                    return batchno
            finally:
                store.close()
        return None

    def get_events(
        self, from_: Optional[str] = None, to: Optional[str] = None
    ) -> Iterator[EventTuple]:
        """Query a slice of the events across the files, in the order they
        were added. The range is checked at once; files are read lazily."""
        from_ = optional_key(from_, "from_")
        to = optional_key(to, "to")
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
        # Within one file, its store checks the order itself.
        first = None
        if frombatch == tobatch:
            first = self._events_of(frombatch, from_, to)
        return self._chain(frombatch, tobatch, from_, to, first)

    def _events_of(
        self, batchno: int, from_: Optional[str], to: Optional[str]
    ) -> Iterator[EventTuple]:
        if batchno == self.batchno:
            return iter(self._current().get_events(from_, to))
        if from_ is not None and to is not None:
            # Let the file's store check the order now, not when iterated.
            store = self._open_event_store(batchno)
            try:
                store.get_events(from_, to)
            finally:
                store.close()
        return self._closed_batch(batchno, from_, to)

    def _closed_batch(
        self, batchno: int, from_: Optional[str], to: Optional[str]
    ) -> Iterator[EventTuple]:
        if not os.path.exists(self._construct_filename(batchno)):
            return
        store = self._open_event_store(batchno)
        try:
            for event in store.get_events(from_, to):
                yield event
        finally:
            store.close()

    def _chain(
        self,
        frombatch: int,
        tobatch: int,
        from_: Optional[str],
        to: Optional[str],
        first: Optional[Iterator[EventTuple]],
    ) -> Iterator[EventTuple]:
        if first is not None:
            yield from first
            return
        for batchno in range(frombatch, tobatch + 1):
            lower = from_ if batchno == frombatch else None
            upper = to if batchno == tobatch else None
            yield from self._events_of(batchno, lower, upper)

    def key_exists(self, key: str) -> bool:
        """Whether the key is in the current file (older files are not
        searched, as in the original: this keeps adding events fast)."""
        return self._current().key_exists(key)

    def close(self) -> None:
        """Close the current file."""
        if self.estore is not None:
            self.estore.close()
            self.estore = None
