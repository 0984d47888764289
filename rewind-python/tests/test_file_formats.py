"""Round trips with the original Rewind's file formats.

The files here are written the way the original 0.3.1 wrote them, by the
test itself: an SQLite table `events(eventid INTEGER PRIMARY KEY
AUTOINCREMENT, uuid TEXT UNIQUE, event BLOB)` holding the data as text, and
log lines of `key TAB base64` where the base64 is wrapped every 76
characters, as `base64.encodebytes` (the original's `encodestring`) does.
Checksums are `FILENAME HEXDIGEST` lines in `checksums.md5`.
"""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import uuid
from pathlib import Path
from typing import List, Tuple

import pytest

from rewind.server.eventstores import (
    CorruptionError,
    LogEventStore,
    RotatedEventStore,
    SQLiteEventStore,
    SyncedRotationEventStores,
)

ORIGINAL_SCHEMA = """
            CREATE TABLE IF NOT EXISTS events(
                eventid INTEGER PRIMARY KEY AUTOINCREMENT,
                uuid TEXT UNIQUE,
                event BLOB
            );
        """


def sample_events(n: int = 12) -> List[Tuple[str, bytes]]:
    events = []
    for i in range(n):
        # Short and long (wrapped) events; text, as the original required.
        body = "event number {0} ".format(i) * (1 + (i % 4) * 9)
        events.append((str(uuid.uuid4()), body.encode("utf-8")))
    return events


def write_original_sqlite(path: Path, events: List[Tuple[str, bytes]]) -> None:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute(ORIGINAL_SCHEMA)
    for key, event in events:
        conn.execute(
            "INSERT INTO events(uuid,event) VALUES (?,?)", (key, event.decode("utf-8"))
        )
    conn.close()


def original_log_line(key: str, event: bytes) -> str:
    return "{0}\t{1}\n".format(key, base64.encodebytes(event).decode().strip())


def write_original_log(path: Path, events: List[Tuple[str, bytes]]) -> None:
    with open(path, "w") as f:
        for key, event in events:
            f.write(original_log_line(key, event))


def write_checksum(path: Path) -> None:
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    with open(path.parent / "checksums.md5", "a") as f:
        f.write("{0} {1}\n".format(path.name, md5))


def read_like_the_original_sqlite(path: Path) -> List[Tuple[str, bytes]]:
    conn = sqlite3.connect(str(path))
    rows = conn.execute("SELECT uuid, event FROM events ORDER BY eventid").fetchall()
    conn.close()
    return [(key, event.encode("utf-8")) for key, event in rows]


def read_like_the_original_log(path: Path) -> List[Tuple[str, bytes]]:
    events = []
    with open(path) as f:
        for line in f:
            key, eventstr = line.rstrip("\n\r").split("\t")
            events.append((key, base64.decodebytes(eventstr.encode())))
    return events


def test_the_sample_really_wraps_lines() -> None:
    long_event = sample_events()[3][1]
    assert len(long_event) > 57
    assert original_log_line("k", long_event).count("\n") > 1


def test_reads_an_original_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    events = sample_events()
    write_original_sqlite(path, events)
    write_checksum(path)
    store = SQLiteEventStore(str(path))
    assert list(store.get_events()) == events
    assert list(store.get_events(events[2][0], events[7][0])) == events[3:8]
    assert store.key_exists(events[5][0])
    store.add_event("new-key", b"appended here")
    store.close()
    # The original can read the file it finds afterwards.
    assert read_like_the_original_sqlite(path) == events + [("new-key", b"appended here")]


def test_writes_the_original_sqlite_layout(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = SQLiteEventStore(str(path))
    events = sample_events(5)
    for key, event in events:
        store.add_event(key, event)
    store.add_event("binary", b"\xff\x00\xfe not utf-8")
    store.close()
    conn = sqlite3.connect(str(path))
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name='events'").fetchone()[0]
    normalized = " ".join(sql.replace("(", " ( ").replace(")", " ) ").replace(",", " , ").split())
    assert normalized == (
        "CREATE TABLE events ( eventid INTEGER PRIMARY KEY AUTOINCREMENT ,"
        " uuid TEXT UNIQUE , event BLOB )"
    )
    kinds = [k for (k,) in conn.execute("SELECT typeof(event) FROM events ORDER BY eventid")]
    conn.close()
    # Text data is stored as text, as the original did; other data as a blob.
    assert kinds == ["text"] * 5 + ["blob"]
    assert read_like_the_original_sqlite_text_only(path) == events
    reopened = SQLiteEventStore(str(path))
    assert list(reopened.get_events())[-1] == ("binary", b"\xff\x00\xfe not utf-8")
    reopened.close()


def read_like_the_original_sqlite_text_only(path: Path) -> List[Tuple[str, bytes]]:
    conn = sqlite3.connect(str(path))
    rows = conn.execute(
        "SELECT uuid, event FROM events WHERE typeof(event)='text' ORDER BY eventid"
    ).fetchall()
    conn.close()
    return [(key, event.encode("utf-8")) for key, event in rows]


def test_reads_an_original_log_file_with_wrapped_lines(tmp_path: Path) -> None:
    path = tmp_path / "appendlog"
    events = sample_events()
    write_original_log(path, events)
    write_checksum(path)
    store = LogEventStore(str(path))
    assert list(store.get_events()) == events
    assert list(store.get_events(events[0][0], events[3][0])) == events[1:4]
    assert list(store.get_events(events[3][0])) == events[4:]
    assert store.key_exists(events[-1][0])
    store.add_event("new-key", b"\x00\x01 binary and long " * 10)
    store.close()
    reopened = LogEventStore(str(path))
    assert list(reopened.get_events())[-1][0] == "new-key"
    reopened.close()


def test_writes_one_line_per_event_the_original_can_read(tmp_path: Path) -> None:
    path = tmp_path / "appendlog"
    store = LogEventStore(str(path))
    events = sample_events(6) + [("bin", bytes(range(256)) * 3), ("empty", b"")]
    for key, event in events:
        store.add_event(key, event)
    store.close()
    lines = path.read_text().splitlines()
    assert len(lines) == len(events)
    assert all(line.count("\t") == 1 for line in lines)
    # Short events are written exactly as the original wrote them.
    short = [(k, e) for k, e in events if len(e) <= 57]
    for key, event in short:
        assert original_log_line(key, event).rstrip("\n") in lines
    assert read_like_the_original_log(path) == events
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    assert (tmp_path / "checksums.md5").read_text() == "appendlog {0}\n".format(md5)


def test_a_tampered_original_file_refuses_to_open(tmp_path: Path) -> None:
    path = tmp_path / "appendlog"
    write_original_log(path, sample_events(3))
    write_checksum(path)
    with open(path, "a") as f:
        f.write(original_log_line("extra", b"sneaked in"))
    with pytest.raises(CorruptionError):
        LogEventStore(str(path))

    db = tmp_path / "db.sqlite"
    write_original_sqlite(db, sample_events(3))
    write_checksum(db)
    write_original_sqlite(db, [("another", b"row")])
    with pytest.raises(CorruptionError):
        SQLiteEventStore(str(db))


def test_reads_an_original_rotated_directory(tmp_path: Path) -> None:
    # The layout of SyncedRotationEventStores over a rotated SQLite store and
    # a rotated log store, as in the original's example configuration.
    events = sample_events(10)
    batches = [events[0:4], events[4:8], events[8:]]
    for sub, prefix, writer in (
        ("db", "sqlite", write_original_sqlite),
        ("log", "appendlog", write_original_log),
    ):
        (tmp_path / sub).mkdir()
        for n, batch in enumerate(batches):
            path = tmp_path / sub / "{0}.{1}".format(prefix, n)
            writer(path, batch)
            if n < len(batches) - 1:
                write_checksum(path)

    synced = SyncedRotationEventStores(4)
    synced.add_rotated_store(RotatedEventStore(SQLiteEventStore, str(tmp_path / "db"), "sqlite"))
    synced.add_rotated_store(RotatedEventStore(LogEventStore, str(tmp_path / "log"), "appendlog"))
    assert list(synced.get_events()) == events
    assert list(synced.get_events(events[1][0], events[9][0])) == events[2:]
    assert list(synced.get_events(events[5][0], events[6][0])) == events[6:7]
    synced.add_event("new-one", b"new")
    synced.close()

    log = RotatedEventStore(LogEventStore, str(tmp_path / "log"), "appendlog")
    assert list(log.get_events())[-1] == ("new-one", b"new")
    log.close()
    last_line = (tmp_path / "log" / "appendlog.2").read_text().splitlines()[-1]
    assert last_line == original_log_line("new-one", b"new").rstrip("\n")
