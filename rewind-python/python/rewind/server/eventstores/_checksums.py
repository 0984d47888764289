"""The checksum file of the file stores: `checksums.md5` beside each file
store holds the MD5 of its closed files, one "FILENAME HEXDIGEST" line each;
a file whose checksum does not match refuses to open."""

from __future__ import annotations

import hashlib
import os
from typing import Dict, Optional

from rewind.server.eventstores.base import CorruptionError

#: The name of the file, beside each file store, that holds the MD5 checksums
#: of the closed files ("FILENAME HEXDIGEST" lines).
CHECKSUM_FILENAME = "checksums.md5"


def file_md5(path: str) -> str:
    """The MD5 of the file `path` (of no bytes when it does not exist)."""
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


def save_checksum(path: str, digest: str) -> None:
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


def check_checksum(path: str, actual: str, message: str) -> None:
    """Raises `CorruptionError` (`message`, formatted with the path) when a
    checksum is recorded for `path` and it is not `actual`."""
    expected = _stored_checksum(path)
    if expected is not None and expected != actual:
        raise CorruptionError(message.format(path))
