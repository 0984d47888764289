"""Failures to order, for the tests of what a store keeps when a write fails."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, List

from rewind.server.eventstores import SQLiteEventStore


def fail_on(estore: SQLiteEventStore, key: str) -> None:
    """Makes the SQLite store fail while inserting `key`, inside its
    transaction (after the rows before it were inserted)."""
    assert estore.conn is not None

    def check(uuid: str) -> int:
        if uuid == key:
            raise RuntimeError("the disk is on fire")
        return 0

    estore.conn.create_function("check_key", 1, check)
    estore.conn.execute(
        "CREATE TEMP TRIGGER fail_on_key BEFORE INSERT ON main.events"
        " BEGIN SELECT check_key(NEW.uuid); END"
    )


def rows(path: Path) -> List[str]:
    conn = sqlite3.connect(str(path))
    try:
        return [row[0] for row in conn.execute("SELECT uuid FROM events ORDER BY eventid")]
    finally:
        conn.close()


class HalfWriter:
    """A file whose writes stop half way, as on a full disk."""

    def __init__(self, f: Any) -> None:
        self._f = f

    def write(self, data: bytes) -> int:
        self._f.write(data[: len(data) // 2])
        self._f.flush()
        raise OSError(28, "No space left on device")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)
