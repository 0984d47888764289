"""Event stores: where the server keeps its events.

Every event store derives from `EventStore` and has the same four methods:
`add_event(key, event)`, `get_events(from_=None, to=None)`,
`key_exists(key)` and `close()`, plus a `from_config(config, **options)`
static method that builds it from a section of the configuration file.

The stores hold one sequence of events, each a key (a `str`, unique in the
store) and its data (`bytes`), in the order they were added.

- `LMDBEventStore` and `InMemoryEventStore` are the Rewind storage engine
  (the store's default stream).
- `SQLiteEventStore`, `LogEventStore`, `RotatedEventStore` and
  `SyncedRotationEventStores` read and write the file formats of the original
  Rewind, so existing data keeps working.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import sqlite3
import threading
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Tuple,
    Union,
)

from rewind import _native
from rewind.server import config as rconfig

_logger = logging.getLogger(__name__)

Key = str
EventTuple = Tuple[str, bytes]

#: The name of the file, beside each file store, that holds the MD5 checksums
#: of the closed files ("FILENAME HEXDIGEST" lines).
CHECKSUM_FILENAME = "checksums.md5"

#: How many events a file store reads at a time while iterating.
_READ_CHUNK = 512


# Errors raised by event stores


class EventStoreError(KeyError):
    """An error about the keys of an event store."""


class EventOrderError(IndexError):
    """A query's `from_` event was added after its `to` event."""


class CorruptionError(Exception):
    """The files of an event store are damaged (a wrong checksum, a file
    that is not what it should be)."""


# Helpers


def _key_arg(key: Any, what: str = "key") -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, (bytes, bytearray, memoryview)):
        return bytes(key).decode("utf-8")
    raise TypeError("{0} must be a str, not {1}".format(what, type(key).__name__))


def _optional_key(key: Any, what: str) -> Optional[str]:
    # As in the original, an empty key is the same as no key.
    if key is None:
        return None
    key = _key_arg(key, what)
    return key if key else None


def _event_arg(event: Any) -> bytes:
    if isinstance(event, bytes):
        return event
    if isinstance(event, (bytearray, memoryview)):
        return bytes(event)
    if isinstance(event, str):
        return event.encode("utf-8")
    raise TypeError("event must be bytes, not {0}".format(type(event).__name__))


def _file_md5(path: str) -> str:
    hasher = hashlib.md5()
    if os.path.exists(path):
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 16), b""):
                hasher.update(block)
    return hasher.hexdigest()


def _checksum_path(path: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(path)), CHECKSUM_FILENAME)


def _read_checksums(checksum_path: str) -> Dict[str, str]:
    sums: Dict[str, str] = {}
    if not os.path.exists(checksum_path):
        return sums
    with open(checksum_path, "r", encoding="utf-8") as f:
        for line in f:
            pieces = line.rstrip("\r\n").split(" ", 1)
            if len(pieces) == 2:
                sums[pieces[0]] = pieces[1]
    return sums


def _stored_checksum(path: str) -> Optional[str]:
    return _read_checksums(_checksum_path(path)).get(os.path.basename(path))


def _save_checksum(path: str, digest: str) -> None:
    """Records the checksum of the file `path` in the checksum file beside it,
    replacing the file atomically."""
    checksum_path = _checksum_path(path)
    sums = _read_checksums(checksum_path)
    sums[os.path.basename(path)] = digest
    tmp = checksum_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for name, value in sums.items():
            f.write("{0} {1}\n".format(name, value))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, checksum_path)


def _check_checksum(path: str, actual: str, message: str) -> None:
    expected = _stored_checksum(path)
    if expected is not None and expected != actual:
        raise CorruptionError(message.format(path))


# Event stores


class EventStore(object):
    """Stores events and keeps track of their order.

    The base class of every event store; it documents the methods a store
    implements. A class of your own that implements them (and a static
    `from_config(config, **options)`) can be named in the configuration file
    and is served by the server like the built-in ones.
    """

    class EventKeyAlreadyExistError(EventStoreError):
        """Raised when adding an event with a key already in the store."""

    class EventKeyDoesNotExistError(EventStoreError):
        """Raised when querying with a key that is not in the store."""

    def add_event(self, key: str, event: bytes) -> None:
        """Add an event under `key` (a `str`); `event` is its data (`bytes`)."""
        raise NotImplementedError("Should be implemented by subclass.")

    def get_events(
        self, from_: Optional[str] = None, to: Optional[str] = None
    ) -> Iterable[EventTuple]:
        """Query for events, in the order they were added.

        from_ -- return events added after the event `from_` (exclusive);
                 None: from the first event.
        to    -- return events up to and including the event `to`; None: up
                 to the last event.

        Returns an iterable of `(key, event)` tuples.
        """
        raise NotImplementedError("Should be implemented by subclass.")

    def key_exists(self, key: str) -> bool:
        """Whether an event with this key was added."""
        raise NotImplementedError("Should be implemented by subclass.")

    def close(self) -> None:
        """Close the store. May be overridden if necessary."""


class _NativeEventStore(EventStore):
    """An event store over the Rewind storage engine: one stream of it."""

    _store: "_native.Store"
    _stream: bytes

    def __init__(self, store: "_native.Store", stream: Union[str, bytes]) -> None:
        self._store = store
        self._stream = stream.encode("utf-8") if isinstance(stream, str) else bytes(stream)

    @property
    def store(self) -> "_native.Store":
        """The underlying `rewind.Store`."""
        return self._store

    @property
    def stream(self) -> bytes:
        """The stream of the store that holds this event store's events."""
        return self._stream

    def add_event(self, key: str, event: bytes) -> None:
        """Add an event and its key. Durable when this returns."""
        key = _key_arg(key)
        data = _event_arg(event)
        try:
            self._store.append(self._stream, [(key, data)])
        except _native.DuplicateIdError:
            raise EventStore.EventKeyAlreadyExistError(
                "The key already existed: {0}".format(key)
            ) from None

    def get_events(
        self, from_: Optional[str] = None, to: Optional[str] = None
    ) -> Iterator[EventTuple]:
        """Query a slice of the events, in the order they were added.

        The range is checked at once (`EventKeyDoesNotExistError`,
        `EventOrderError`); the events are then read lazily, a chunk at a
        time.
        """
        from_ = _optional_key(from_, "from_")
        to = _optional_key(to, "to")
        try:
            events = self._store.query(self._stream, from_, to)
        except _native.UnknownIdError as e:
            which = "from_" if from_ is not None and e.id == from_.encode() else "to"
            raise EventStore.EventKeyDoesNotExistError(
                "{0}={1}".format(which, from_ if which == "from_" else to)
            ) from None
        except _native.RangeOrderError:
            raise EventOrderError(
                "'From' event came after 'To'. Keys: ({0}, {1})".format(from_, to)
            ) from None
        return (
            (e.id.decode("utf-8", "surrogateescape"), e.data) for e in events
        )

    def key_exists(self, key: str) -> bool:
        """Whether an event with this key was added."""
        return self._store.contains(_key_arg(key))

    def count(self) -> int:
        """The number of events in the store."""
        head = self._store.stream_head(self._stream)
        return 0 if head is None else head.version + 1

    def close(self) -> None:
        """Close the store (appends then raise `rewind.ClosedError`)."""
        self._store.close()


class InMemoryEventStore(_NativeEventStore):
    """Stores events in memory; they are lost with the process."""

    def __init__(self) -> None:
        super().__init__(_native.Store.in_memory(), "default")

    @staticmethod
    def from_config(_config: Any, **options: Any) -> "InMemoryEventStore":
        """Build from a configuration section (it takes no options)."""
        rconfig.check_config_options("InMemoryEventStore", (), (), options)
        return InMemoryEventStore()


class LMDBEventStore(_NativeEventStore):
    """Stores events in the Rewind storage engine: an LMDB directory.

    The recommended store: durable, fast, and readable by other processes
    (`rewind.Store(path, read_only=True)`) while the server runs. Its events
    are the store's stream `stream`; the directory may hold other streams
    (written through the v2 protocol or `rewind.Store`).

    path             -- the directory (created if missing).
    stream           -- the stream that holds the events (default "default").
    map_size_limit   -- an upper bound on the store's size in bytes; None:
                        grow as long as the disk allows.
    """

    def __init__(
        self,
        path: Union[str, "os.PathLike[str]"],
        stream: Union[str, bytes] = "default",
        map_size_limit: Optional[int] = None,
        initial_map_size: Optional[int] = None,
    ) -> None:
        self.path = os.fspath(path)
        store = _native.Store(
            self.path,
            map_size_limit=map_size_limit,
            initial_map_size=initial_map_size,
        )
        super().__init__(store, stream)

    @staticmethod
    def from_config(_config: Any, **options: Any) -> "LMDBEventStore":
        """Build from a configuration section: `path` (required),
        `map-size-limit` and `initial-map-size` (sizes such as `4G`)."""
        rconfig.check_config_options(
            "LMDBEventStore",
            ("path",),
            ("map-size-limit", "initial-map-size"),
            options,
        )
        sizes: Dict[str, Optional[int]] = {"map_size_limit": None, "initial_map_size": None}
        for option in ("map-size-limit", "initial-map-size"):
            if option in options:
                size = _native._parse_size(str(options[option]))
                if size is None:
                    raise rconfig.ConfigurationError(
                        "{0} must be a size in bytes, not {1!r}".format(
                            option, options[option]
                        )
                    )
                sizes[option.replace("-", "_")] = size
        return LMDBEventStore(
            options["path"],
            map_size_limit=sizes["map_size_limit"],
            initial_map_size=sizes["initial_map_size"],
        )


class SQLiteEventStore(EventStore):
    """Stores events in an SQLite database file, in the original format.

    The table is `events(eventid INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT UNIQUE, event BLOB)`. Data that is valid UTF-8 is stored as
    text, as the original stored it (so the original can read the file);
    other data is stored as a blob. On `close`, the file's MD5 is written to
    `checksums.md5` beside it; a file whose checksum does not match refuses
    to open (`CorruptionError`).
    """

    def __init__(self, path: Union[str, "os.PathLike[str]"]) -> None:
        path = os.fspath(path)
        _check_checksum(path, _file_md5(path), "The file '{0}' had wrong md5 checksum.")
        self._path = path
        self._lock = threading.RLock()
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            raise CorruptionError("Could not open '{0}': {1}".format(path, e)) from e
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS events("
                " eventid INTEGER PRIMARY KEY AUTOINCREMENT,"
                " uuid TEXT UNIQUE,"
                " event BLOB"
                ")"
            )
            status = conn.execute("PRAGMA integrity_check(1)").fetchone()[0]
        except sqlite3.DatabaseError as e:
            conn.close()
            raise CorruptionError(
                "The file '{0}' is not an SQLite event store: {1}".format(path, e)
            ) from e
        if status != "ok":
            conn.close()
            raise CorruptionError(
                "Integrity check failed when opening '{0}': {1}".format(path, status)
            )
        self.conn: Optional[sqlite3.Connection] = conn

    @staticmethod
    def from_config(_config: Any, **options: Any) -> "SQLiteEventStore":
        """Build from a configuration section: `path` (required)."""
        rconfig.check_config_options("SQLiteEventStore", ("path",), (), options)
        return SQLiteEventStore(options["path"])

    def _conn(self) -> sqlite3.Connection:
        if self.conn is None:
            raise ValueError("The event store is closed: {0}".format(self._path))
        return self.conn

    def add_event(self, key: str, event: bytes) -> None:
        """Add an event and its key. Durable when this returns."""
        key = _key_arg(key)
        data = _event_arg(event)
        value: Union[str, bytes]
        try:
            value = data.decode("utf-8")
        except UnicodeDecodeError:
            value = data
        with self._lock:
            try:
                self._conn().execute(
                    "INSERT INTO events(uuid, event) VALUES (?, ?)", (key, value)
                )
            except sqlite3.IntegrityError:
                raise EventStore.EventKeyAlreadyExistError(
                    "The key already existed: {0}".format(key)
                ) from None

    def _eventid(self, key: str) -> Optional[int]:
        row = self._conn().execute(
            "SELECT eventid FROM events WHERE uuid = ?", (key,)
        ).fetchone()
        return None if row is None else row[0]

    def get_events(
        self, from_: Optional[str] = None, to: Optional[str] = None
    ) -> Iterator[EventTuple]:
        """Query a slice of the events, in the order they were added.

        The range is checked at once; rows are then read a chunk at a time.
        """
        from_ = _optional_key(from_, "from_")
        to = _optional_key(to, "to")
        with self._lock:
            conn = self._conn()
            low = 0
            if from_ is not None:
                fromid = self._eventid(from_)
                if fromid is None:
                    raise EventStore.EventKeyDoesNotExistError("from_={0}".format(from_))
                low = fromid
            if to is not None:
                toid = self._eventid(to)
                if toid is None:
                    raise EventStore.EventKeyDoesNotExistError("to={0}".format(to))
                high = toid
            else:
                high = conn.execute("SELECT MAX(eventid) FROM events").fetchone()[0] or 0
            if from_ is not None and to is not None and low > high:
                raise EventOrderError("'to' happened chronologically before 'from_'.")
        return self._rows(low, high)

    def _rows(self, after: int, last: int) -> Iterator[EventTuple]:
        while after < last:
            with self._lock:
                rows = self._conn().execute(
                    "SELECT eventid, uuid, event FROM events"
                    " WHERE eventid > ? AND eventid <= ? ORDER BY eventid LIMIT ?",
                    (after, last, _READ_CHUNK),
                ).fetchall()
            if not rows:
                return
            for eventid, key, value in rows:
                if isinstance(value, str):
                    value = value.encode("utf-8")
                elif value is None:
                    value = b""
                yield key, bytes(value)
            after = rows[-1][0]

    def key_exists(self, key: str) -> bool:
        """Whether an event with this key was added."""
        with self._lock:
            return self._eventid(_key_arg(key)) is not None

    def count(self) -> int:
        """The number of events in the database."""
        with self._lock:
            return int(self._conn().execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def close(self) -> None:
        """Close the database and record its checksum."""
        with self._lock:
            if self.conn is not None:
                self.conn.close()
                self.conn = None
            _save_checksum(self._path, _file_md5(self._path))


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
            _check_checksum(path, self._hasher.hexdigest(), "The file '{0}' had wrong md5.")
            size = self._scan()
        self._size = size
        self.f: Optional[Any] = open(path, "ab")

    @staticmethod
    def from_config(_config: Any, **options: Any) -> "LogEventStore":
        """Build from a configuration section: `path` (required)."""
        rconfig.check_config_options("LogEventStore", ("path",), (), options)
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
        key = _key_arg(key)
        data = _event_arg(event)
        if not all(char.isalnum() or char == "-" for char in key):
            raise ValueError("Key must be alphanumeric or a dash (-): {0}".format(key))
        line = key.encode("utf-8") + b"\t" + base64.b64encode(data) + b"\n"
        with self._lock:
            if self.f is None:
                raise ValueError("The event store is closed: {0}".format(self._path))
            if key in self._index:
                raise EventStore.EventKeyAlreadyExistError(
                    "The key already existed: {0}".format(key)
                )
            self.f.write(line)
            self.f.flush()
            os.fsync(self.f.fileno())
            self._hasher.update(line)
            self._index[key] = len(self._keys)
            self._keys.append(key)
            self._offsets.append(self._size)
            self._size += len(line)

    def get_events(
        self, from_: Optional[str] = None, to: Optional[str] = None
    ) -> Iterator[EventTuple]:
        """Query a slice of the events, in the order they were added.

        The range is checked at once; the file is then read lazily.
        """
        from_ = _optional_key(from_, "from_")
        to = _optional_key(to, "to")
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
            offset = self._offsets[start] if start < end else 0
        return self._records(offset, end - start)

    def _records(self, offset: int, count: int) -> Iterator[EventTuple]:
        if count <= 0:
            return
        with open(self._path, "rb") as f:
            f.seek(offset)
            key: Optional[str] = None
            pieces: List[bytes] = []
            for line in f:
                line = line.rstrip(b"\r\n")
                if b"\t" in line:
                    if key is not None:
                        yield key, self._decode(key, pieces)
                        count -= 1
                        if count == 0:
                            return
                    rawkey, encoded = line.split(b"\t", 1)
                    key, pieces = rawkey.decode("utf-8"), [encoded]
                elif key is not None:
                    pieces.append(line)
            if key is not None and count > 0:
                yield key, self._decode(key, pieces)

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
            return _key_arg(key) in self._index

    def count(self) -> int:
        """The number of events in the file."""
        return len(self._keys)

    def close(self) -> None:
        """Record the file's checksum and close it."""
        with self._lock:
            _save_checksum(self._path, self._hasher.hexdigest())
            if self.f is not None:
                self.f.close()
                self.f = None


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
        self._logger = _logger.getChild(prefix)
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
        rconfig.check_config_options(
            "RotatedEventStore", ("realclass", "path", "prefix"), (), options
        )
        realclass = rconfig._load_class(options["realclass"])
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
        from_ = _optional_key(from_, "from_")
        to = _optional_key(to, "to")
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


class SyncedRotationEventStores(EventStore):
    """Writes every event to several `RotatedEventStore`s and rotates them
    together every `events_per_batch` events; queries are answered by the
    first of them."""

    def __init__(self, events_per_batch: int = 25000) -> None:
        if isinstance(events_per_batch, bool) or not isinstance(events_per_batch, int):
            raise TypeError("Events per batch must be integer.")
        if events_per_batch <= 0:
            raise ValueError("Events per batch must be positive.")
        self.events_per_batch = events_per_batch
        self.count = 0
        self.stores: List[RotatedEventStore] = []

    @staticmethod
    def from_config(config: Any, **options: Any) -> "SyncedRotationEventStores":
        """Build from a configuration section: `storage-backends` (required:
        the sections of the rotated stores, separated by spaces) and
        `events_per_batch` (default 25000)."""
        rconfig.check_config_options(
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
                raise rconfig.ConfigurationError(
                    "events_per_batch must be an integer: {0}".format(
                        options["events_per_batch"]
                    )
                ) from None
            if events_per_batch <= 0:
                raise rconfig.ConfigurationError("events_per_batch must be positive.")
        store = SyncedRotationEventStores(events_per_batch)
        try:
            for section in options["storage-backends"].split():
                store.add_rotated_store(rconfig.construct_eventstore(config, section))
        except BaseException:
            store.close()
            raise
        if not store.stores:
            raise rconfig.ConfigurationError("storage-backends names no section.")
        return store

    def add_rotated_store(self, rotated_store: RotatedEventStore) -> None:
        """Add a store that is to be written and rotated with the others."""
        if self.count != 0:
            raise ValueError("Must not have written before adding additional estores")
        self.stores.append(rotated_store)

    def _rotate_files_if_needed(self) -> None:
        if self.count >= self.events_per_batch:
            _logger.debug(
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
        if self.key_exists(key):
            raise EventStore.EventKeyAlreadyExistError(
                "The key already existed: {0}".format(key)
            )
        self._rotate_files_if_needed()
        for store in self.stores:
            store.add_event(key, event)
        self.count += 1

    def _first(self) -> RotatedEventStore:
        if not self.stores:
            raise ValueError("SyncedRotationEventStores has no stores (or is closed).")
        return self.stores[0]

    def key_exists(self, key: str) -> bool:
        """Whether the key is in the current batch of the first store."""
        return self._first().key_exists(key)

    def get_events(
        self, from_: Optional[str] = None, to: Optional[str] = None
    ) -> Iterator[EventTuple]:
        """Query a slice of the events, from the first store."""
        return self._first().get_events(from_, to)

    def close(self) -> None:
        """Close every store."""
        stores, self.stores = self.stores, []
        for store in stores:
            store.close()
