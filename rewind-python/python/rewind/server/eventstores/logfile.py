"""`LogEventStore`: events in an append-only text file, in the format of the
original Rewind (one line per event: the key, a TAB, base64 of the data)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import threading
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from rewind.server._storeconfig import check_config_options
from rewind.server.eventstores._checksums import check_checksum, save_checksum
from rewind.server.eventstores.base import (
    CorruptionError,
    EventOrderError,
    EventStore,
    EventTuple,
    check_new_keys,
    event_pairs,
    key_arg,
    optional_key,
)


class LogEventStore(EventStore):
    """Stores events in an append-only text file, in the original format.

    One event per line: the key, a TAB, and the event's data in base64.
    Keys are letters, digits and dashes. The original wrapped the base64 of
    events longer than 57 bytes over several lines; such files are read
    correctly, and events of any size are written on one line. On `close`,
    the file's MD5 is written to `checksums.md5` beside it; a file whose
    checksum does not match refuses to open (`CorruptionError`).
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"]) -> None:
        path = os.fspath(path)
        self._path = path
        self._lock = threading.RLock()
        self._hasher = hashlib.md5()
        # Per event, in order: its key and the offset of its first line.
        self._keys: List[str] = []
        self._offsets: List[int] = []
        self._index: Dict[str, int] = {}
        size = 0
        if os.path.exists(path):
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 16), b""):
                    self._hasher.update(block)
            check_checksum(path, self._hasher.hexdigest(), "The file '{0}' had wrong md5.")
            size = self._scan()
        self._size = size
        self.f: Optional[Any] = open(path, "ab")

    @staticmethod
    def from_config(_config: Any, **options: Any) -> "LogEventStore":
        """Build from a configuration section: `path` (required)."""
        check_config_options("LogEventStore", ("path",), (), options)
        return LogEventStore(options["path"])

    def _scan(self) -> int:
        """Indexes the records of the file; returns its size."""
        offset = 0
        with open(self._path, "rb") as f:
            for line in f:
                if b"\t" in line:
                    key = line.split(b"\t", 1)[0].decode("utf-8")
                    if key in self._index:
                        raise CorruptionError(
                            "The key {0} appears twice in '{1}'.".format(key, self._path)
                        )
                    self._index[key] = len(self._keys)
                    self._keys.append(key)
                    self._offsets.append(offset)
                elif line.strip() and not self._keys:
                    raise CorruptionError(
                        "'{0}' does not start with an event line.".format(self._path)
                    )
                offset += len(line)
        return offset

    def add_event(self, key: str, event: bytes) -> None:
        """Add an event and its key. Durable when this returns."""
        self._append(event_pairs([(key, event)]))

    def add_events(self, events: Iterable[Tuple[str, bytes]]) -> None:
        """Add several `(key, event)` pairs in one write: all or none (the
        keys are checked first, and a failed write is cut off the file).
        Durable when this returns."""
        self._append(event_pairs(events))

    def _append(self, pairs: List[EventTuple]) -> None:
        lines = []
        for key, data in pairs:
            if not all(char.isalnum() or char == "-" for char in key):
                raise ValueError("Key must be alphanumeric or a dash (-): {0}".format(key))
            lines.append(key.encode("utf-8") + b"\t" + base64.b64encode(data) + b"\n")
        if not lines:
            return
        blob = b"".join(lines)
        with self._lock:
            if self.f is None:
                raise ValueError("The event store is closed: {0}".format(self._path))
            check_new_keys(pairs, self._index.__contains__)
            start = self._size
            try:
                self.f.write(blob)
                self.f.flush()
                os.fsync(self.f.fileno())
            except BaseException:
                self._cut_back_to(start)
                raise
            self._hasher.update(blob)
            offset = start
            for (key, _), line in zip(pairs, lines):
                self._index[key] = len(self._keys)
                self._keys.append(key)
                self._offsets.append(offset)
                offset += len(line)
            self._size = offset

    def _cut_back_to(self, size: int) -> None:
        """After a failed write, cuts the file back to its `size` bytes
        before it (no part of the write stays) and reopens it; if that fails
        too, the store stays closed."""
        f, self.f = self.f, None
        if f is not None:
            try:
                f.close()
            except OSError:
                pass  # the unwritten rest of the failed write
        os.truncate(self._path, size)
        self.f = open(self._path, "ab")

    def get_events(
        self, from_: Optional[str] = None, to: Optional[str] = None
    ) -> List[EventTuple]:
        """Query a slice of the events, in the order they were added: a list
        of `(key, event)` pairs, read from the file at once (it stays valid
        after the store is closed)."""
        from_ = optional_key(from_, "from_")
        to = optional_key(to, "to")
        with self._lock:
            start = 0
            if from_ is not None:
                if from_ not in self._index:
                    raise EventStore.EventKeyDoesNotExistError("from_={0}".format(from_))
                start = self._index[from_] + 1
            if to is not None:
                if to not in self._index:
                    raise EventStore.EventKeyDoesNotExistError("to={0}".format(to))
                end = self._index[to] + 1
            else:
                end = len(self._keys)
            if start > end:
                raise EventOrderError("'to' happened chronologically before 'from_'.")
            if start == end:
                return []
            return self._records(self._offsets[start], end - start)

    def _records(self, offset: int, count: int) -> List[EventTuple]:
        """The `count` events whose records start at byte `offset`."""
        events: List[EventTuple] = []
        with open(self._path, "rb") as f:
            f.seek(offset)
            key: Optional[str] = None
            pieces: List[bytes] = []
            for line in f:
                line = line.rstrip(b"\r\n")
                if b"\t" in line:
                    if key is not None:
                        events.append((key, self._decode(key, pieces)))
                        if len(events) == count:
                            return events
                    rawkey, encoded = line.split(b"\t", 1)
                    key, pieces = rawkey.decode("utf-8"), [encoded]
                elif key is not None:
                    pieces.append(line)
            if key is not None and len(events) < count:
                events.append((key, self._decode(key, pieces)))
        return events

    def _decode(self, key: str, pieces: List[bytes]) -> bytes:
        try:
            return base64.b64decode(b"".join(pieces), validate=True)
        except (binascii.Error, ValueError) as e:
            raise CorruptionError(
                "The event {0} in '{1}' is not valid base64: {2}".format(key, self._path, e)
            ) from e

    def key_exists(self, key: str) -> bool:
        """Whether an event with this key was added."""
        with self._lock:
            return key_arg(key) in self._index

    def count(self) -> int:
        """The number of events in the file."""
        return len(self._keys)

    def close(self) -> None:
        """Record the file's checksum and close it."""
        with self._lock:
            save_checksum(self._path, self._hasher.hexdigest())
            if self.f is not None:
                self.f.close()
                self.f = None
