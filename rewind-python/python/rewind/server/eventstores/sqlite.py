"""`SQLiteEventStore`: events in an SQLite database file, in the format of
the original Rewind."""

from __future__ import annotations

import os
import sqlite3
import threading
from typing import Any, Iterable, List, Optional, Tuple, Union

from rewind.server._storeconfig import check_config_options
from rewind.server.eventstores._checksums import check_checksum, file_md5, save_checksum
from rewind.server.eventstores.base import (
    CorruptionError,
    EventOrderError,
    EventStore,
    EventTuple,
    already_exists,
    event_pairs,
    key_arg,
    optional_key,
)


def _event_bytes(value: Union[str, bytes, None]) -> bytes:
    """An event as read from the table: text (as the original stored
    events) is UTF-8, a blob is the bytes themselves."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if value is None:
        return b""
    return bytes(value)


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
        check_checksum(path, file_md5(path), "The file '{0}' had wrong md5 checksum.")
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
        check_config_options("SQLiteEventStore", ("path",), (), options)
        return SQLiteEventStore(options["path"])

    def _conn(self) -> sqlite3.Connection:
        if self.conn is None:
            raise ValueError("The event store is closed: {0}".format(self._path))
        return self.conn

    def add_event(self, key: str, event: bytes) -> None:
        """Add an event and its key. Durable when this returns."""
        self._insert(event_pairs([(key, event)]))

    def add_events(self, events: Iterable[Tuple[str, bytes]]) -> None:
        """Add several `(key, event)` pairs in one transaction: all or none
        (a key that is taken, or any failure while writing, rolls the
        transaction back). Durable when this returns."""
        self._insert(event_pairs(events))

    def _insert(self, pairs: List[EventTuple]) -> None:
        rows: List[Tuple[str, Union[str, bytes]]] = []
        for key, data in pairs:
            try:
                rows.append((key, data.decode("utf-8")))
            except UnicodeDecodeError:
                rows.append((key, data))
        if not rows:
            return
        with self._lock:
            conn = self._conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                for key, value in rows:
                    try:
                        conn.execute("INSERT INTO events(uuid, event) VALUES (?, ?)", (key, value))
                    except sqlite3.IntegrityError:
                        raise already_exists(key) from None
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # SQLite rolled back by itself; the first error says why
                raise

    def _eventid(self, key: str) -> Optional[int]:
        row = self._conn().execute(
            "SELECT eventid FROM events WHERE uuid = ?", (key,)
        ).fetchone()
        return None if row is None else row[0]

    def get_events(
        self, from_: Optional[str] = None, to: Optional[str] = None
    ) -> List[EventTuple]:
        """Query a slice of the events, in the order they were added: a list
        of `(key, event)` pairs, read in one query (it stays valid after the
        store is closed)."""
        from_ = optional_key(from_, "from_")
        to = optional_key(to, "to")
        with self._lock:
            conn = self._conn()
            low = 0
            if from_ is not None:
                fromid = self._eventid(from_)
                if fromid is None:
                    raise EventStore.EventKeyDoesNotExistError("from_={0}".format(from_))
                low = fromid
            if to is None:
                rows = conn.execute(
                    "SELECT uuid, event FROM events WHERE eventid > ? ORDER BY eventid",
                    (low,),
                )
            else:
                toid = self._eventid(to)
                if toid is None:
                    raise EventStore.EventKeyDoesNotExistError("to={0}".format(to))
                if from_ is not None and low > toid:
                    raise EventOrderError("'to' happened chronologically before 'from_'.")
                rows = conn.execute(
                    "SELECT uuid, event FROM events"
                    " WHERE eventid > ? AND eventid <= ? ORDER BY eventid",
                    (low, toid),
                )
            return [(key, _event_bytes(value)) for key, value in rows]

    def key_exists(self, key: str) -> bool:
        """Whether an event with this key was added."""
        with self._lock:
            return self._eventid(key_arg(key)) is not None

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
            save_checksum(self._path, file_md5(self._path))
