"""rewind.Store: the typed API over the storage engine."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Iterator

import pytest

import rewind
from serverproc import event_store
from rewind import ExpectedVersion


@pytest.fixture(params=["memory", "lmdb", "remote"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[rewind.Store]:
    """Each test runs on an embedded store and on a client of a server:
    the same calls, the same results and exceptions."""
    with event_store(request.param, tmp_path) as s:
        yield s  # type: ignore[misc]


@pytest.fixture(params=["memory", "lmdb"])
def local_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[rewind.Store]:
    """An embedded store, for what only `rewind.Store` has (range queries,
    reads after closing)."""
    with event_store(request.param, tmp_path) as s:
        yield s  # type: ignore[misc]


def test_append_assigns_versions_positions_and_uuid_ids(store: rewind.Store) -> None:
    a = store.append(b"orders", [b"created", b"paid"])
    b = store.append("carts", [("cart-1", b"added")])
    c = store.append(b"orders", [b"shipped"])
    assert [(x.version, x.position) for x in a + b + c] == [(0, 0), (1, 1), (0, 2), (2, 3)]
    assert b[0].id == b"cart-1"
    for appended in a + c:
        text = appended.id.decode()
        assert len(text) == 36 and text == text.lower() and text[14] == "7"  # UUIDv7
    assert len({x.id for x in a + b + c}) == 4
    assert store.next_position() == 4


def test_events_carry_everything(store: rewind.Store) -> None:
    store.append(b"s", [(b"id-1", b"one"), (b"id-2", b"\x00\xff binary")])
    events = store.read_stream(b"s")
    assert [(e.id, e.data, e.stream, e.version, e.position) for e in events] == [
        (b"id-1", b"one", b"s", 0, 0),
        (b"id-2", b"\x00\xff binary", b"s", 1, 1),
    ]
    assert events[0] == store.get(b"id-1")
    assert events[0] != events[1]
    assert hash(events[0]) == hash(store.get("id-1"))
    assert "id-1" in repr(events[0]) and "version=0" in repr(events[0])


def test_names_may_be_str_bytes_bytearray_or_memoryview(store: rewind.Store) -> None:
    store.append(bytearray(b"s"), [(memoryview(b"k"), bytearray(b"v")), "text data"])
    assert [e.data for e in store.read_stream("s")] == [b"v", b"text data"]
    assert store.get(bytearray(b"k")) is not None
    with pytest.raises(TypeError):
        store.append(b"s", [3])
    with pytest.raises(TypeError):
        store.append(b"s", b"not a list")
    with pytest.raises(TypeError):
        store.append(b"s", [(b"id", b"data", b"extra")])
    with pytest.raises(TypeError):
        store.get(42)


def test_expected_versions(store: rewind.Store) -> None:
    store.append(b"s", [b"0"], ExpectedVersion.NO_STREAM)
    store.append(b"s", [b"1"], ExpectedVersion.STREAM_EXISTS)
    store.append(b"s", [b"2"], ExpectedVersion.exact(1))
    store.append(b"s", [b"3"], 2)  # an int means exact
    store.append(b"s", [b"4"], ExpectedVersion.ANY)
    store.append(b"s", [b"5"], None)
    assert [e.data for e in store.read_stream(b"s")] == [b"0", b"1", b"2", b"3", b"4", b"5"]


@pytest.mark.parametrize(
    "stream, expected, actual",
    [
        (b"s", ExpectedVersion.NO_STREAM, 1),
        (b"s", ExpectedVersion.exact(0), 1),
        (b"s", 5, 1),
        (b"new", ExpectedVersion.STREAM_EXISTS, None),
        (b"new", ExpectedVersion.exact(0), None),
    ],
)
def test_a_version_conflict_raises_and_appends_nothing(
    store: rewind.Store, stream: bytes, expected: object, actual: object
) -> None:
    store.append(b"s", [b"0", b"1"])
    with pytest.raises(rewind.WrongExpectedVersionError) as info:
        store.append(stream, [b"x", b"y"], expected)
    e = info.value
    assert isinstance(e, rewind.RewindError)
    assert e.stream == stream
    assert e.actual == actual
    want = expected if isinstance(expected, ExpectedVersion) else ExpectedVersion.exact(expected)
    assert e.expected == want
    assert store.next_position() == 2


def test_expected_version_values() -> None:
    assert ExpectedVersion.exact(3) == ExpectedVersion.exact(3)
    assert ExpectedVersion.exact(3) != ExpectedVersion.exact(4)
    assert ExpectedVersion.ANY != ExpectedVersion.NO_STREAM
    assert len({ExpectedVersion.ANY, ExpectedVersion.ANY, ExpectedVersion.exact(1)}) == 2
    assert ExpectedVersion.exact(7).version == 7 and ExpectedVersion.ANY.version is None
    assert repr(ExpectedVersion.exact(7)) == "ExpectedVersion.exact(7)"
    assert repr(ExpectedVersion.STREAM_EXISTS) == "ExpectedVersion.STREAM_EXISTS"


@pytest.mark.parametrize("bad", [-1, "3", 1.5, True])
def test_bad_expected_versions_are_type_errors(store: rewind.Store, bad: object) -> None:
    with pytest.raises(TypeError):
        store.append(b"s", [b"x"], bad)


def test_duplicate_ids_raise(store: rewind.Store) -> None:
    store.append(b"s", [(b"a", b"1")])
    with pytest.raises(rewind.DuplicateIdError) as info:
        store.append(b"other", [(b"b", b"2"), (b"a", b"3")])
    assert info.value.id == b"a"
    with pytest.raises(rewind.DuplicateIdError):
        store.append(b"s", [(b"c", b"1"), (b"c", b"2")])
    assert store.next_position() == 1


@pytest.mark.parametrize(
    "stream, events",
    [
        (b"", [b"x"]),
        (b"s" * 256, [b"x"]),
        (b"s", []),
        (b"s", [(b"", b"x")]),
        (b"s", [(b"i" * 256, b"x")]),
    ],
)
def test_invalid_arguments_raise_value_errors(
    store: rewind.Store, stream: bytes, events: list
) -> None:
    with pytest.raises(rewind.InvalidArgumentError) as info:
        store.append(stream, events)
    assert isinstance(info.value, ValueError)
    assert info.value.reason


def test_longest_names_are_fine(store: rewind.Store) -> None:
    store.append(b"s" * 255, [(b"i" * 255, b"x")])
    assert store.get(b"i" * 255).stream == b"s" * 255


def test_reads_by_version_and_position(store: rewind.Store) -> None:
    for i in range(10):
        store.append(b"even" if i % 2 == 0 else b"odd", [str(i).encode()])
    assert [e.data for e in store.read_stream(b"even", 2)] == [b"4", b"6", b"8"]
    assert [e.data for e in store.read_stream(b"even", 1, 2)] == [b"2", b"4"]
    assert store.read_stream(b"even", 99) == []
    assert store.read_stream(b"missing") == []
    assert [e.data for e in store.read_log(7)] == [b"7", b"8", b"9"]
    assert [e.position for e in store.read_log(0, 3)] == [0, 1, 2]
    assert [e.stream for e in store.read_log(2, 2)] == [b"even", b"odd"]
    assert store.read_log(10) == []


def test_iterators_are_lazy_and_chunked(store: rewind.Store) -> None:
    store.append(b"s", [str(i).encode() for i in range(1000)])
    it = store.iter_stream(b"s", 10, chunk_size=7)
    assert iter(it) is it
    assert next(it).data == b"10"
    # Events appended during the iteration are included.
    store.append(b"s", [b"late"])
    rest = list(it)
    assert [e.version for e in rest] == list(range(11, 1001))
    assert rest[-1].data == b"late"
    with pytest.raises(StopIteration):
        next(it)
    assert [e.position for e in store.iter_log(995, chunk_size=2)] == list(range(995, 1001))
    assert list(store.iter_stream(b"none")) == []
    assert list(store.iter_log(5000)) == []


def test_query_is_from_exclusive_to_inclusive(local_store: rewind.Store) -> None:
    store = local_store
    ids = [a.id for a in store.append(b"s", [str(i).encode() for i in range(6)])]
    store.append(b"other", [(b"elsewhere", b"x")])
    data = lambda it: [e.data for e in it]  # noqa: E731
    assert data(store.query(b"s")) == [b"0", b"1", b"2", b"3", b"4", b"5"]
    assert data(store.query(b"s", ids[1])) == [b"2", b"3", b"4", b"5"]
    assert data(store.query(b"s", None, ids[1])) == [b"0", b"1"]
    assert data(store.query(b"s", ids[1], ids[4], chunk_size=1)) == [b"2", b"3", b"4"]
    assert data(store.query(b"s", ids[2], ids[2])) == []
    assert data(store.query(b"s", ids[5])) == []
    # The open end is the head when the query is made.
    it = store.query(b"s")
    store.append(b"s", [b"6"])
    assert len(list(it)) == 6


def test_query_errors(local_store: rewind.Store) -> None:
    store = local_store
    ids = [a.id for a in store.append(b"s", [b"0", b"1", b"2"])]
    store.append(b"other", [(b"elsewhere", b"x")])
    with pytest.raises(rewind.UnknownIdError) as info:
        store.query(b"s", b"nope")
    assert info.value.id == b"nope" and info.value.stream is None
    assert isinstance(info.value, LookupError)
    with pytest.raises(rewind.UnknownIdError):
        store.query(b"s", None, b"nope")
    with pytest.raises(rewind.UnknownIdError) as info:
        store.query(b"s", b"elsewhere")
    assert info.value.stream == b"s"
    with pytest.raises(rewind.RangeOrderError) as order:
        store.query(b"s", ids[2], ids[0])
    assert isinstance(order.value, ValueError)


def test_lookups(store: rewind.Store) -> None:
    assert store.get(b"x") is None
    assert not store.contains(b"x") and b"x" not in store
    assert store.stream_head(b"s") is None
    store.append(b"s", [(b"x", b"1"), (b"y", b"2")])
    assert store.contains("x") and "y" in store
    head = store.stream_head(b"s")
    assert (head.version, head.position, head.id) == (1, 1, b"y")
    assert head == store.stream_head("s")
    assert "version=1" in repr(head)


def test_closed_store_refuses_appends_but_reads(local_store: rewind.Store) -> None:
    store = local_store
    store.append(b"s", [b"kept"])
    store.close()
    store.close()  # harmless
    with pytest.raises(rewind.ClosedError):
        store.append(b"s", [b"lost"])
    assert [e.data for e in store.read_stream(b"s")] == [b"kept"]


def test_lmdb_store_persists_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "data"
    with rewind.Store(path) as s:
        s.append(b"s", [(b"a", b"1")])
        assert repr(s) == 'Store("{0}")'.format(path)
    with rewind.Store(str(path)) as s:
        assert s.get(b"a").data == b"1"
        s.append(b"s", [b"2"], 0)
    with rewind.Store(path, read_only=True) as ro:
        assert [e.data for e in ro.read_stream(b"s")] == [b"1", b"2"]
        with pytest.raises(rewind.ReadOnlyError):
            ro.append(b"s", [b"3"])


def test_read_only_store_reads_while_another_writes(tmp_path: Path) -> None:
    path = tmp_path / "data"
    with rewind.Store(path) as writer:
        writer.append(b"s", [b"1"])
        reader = rewind.Store(path, read_only=True)
        writer.append(b"s", [b"2"])
        assert [e.data for e in reader.read_stream(b"s")] == [b"1", b"2"]
        reader.close()


def test_a_size_limit_raises_storage_full(tmp_path: Path) -> None:
    with rewind.Store(tmp_path / "small", map_size_limit=1 << 20) as s:
        with pytest.raises(rewind.StorageFullError):
            for _ in range(64):
                s.append(b"s", [os.urandom(64 << 10)])
        # Reads keep working.
        assert s.read_log(0, 1)


def test_not_a_store_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "data.mdb").write_bytes(b"this is not an LMDB file" * 1000)
    with pytest.raises(rewind.RewindError) as info:
        rewind.Store(bad)
    assert isinstance(info.value, (rewind.CorruptStoreError, rewind.StorageError))


def test_opening_a_file_as_a_store_is_a_storage_error(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(rewind.RewindError):
        rewind.Store(f / "sub")


def test_every_exception_derives_from_rewind_error() -> None:
    names = [
        "WrongExpectedVersionError",
        "DuplicateIdError",
        "UnknownIdError",
        "RangeOrderError",
        "InvalidArgumentError",
        "StorageFullError",
        "ReadOnlyError",
        "ClosedError",
        "CorruptStoreError",
        "ConfigError",
        "StorageError",
        "NetworkError",
        "BindError",
        "BackendError",
        "InternalError",
    ]
    for name in names:
        cls = getattr(rewind, name)
        assert issubclass(cls, rewind.RewindError), name
        assert cls.__module__ == "rewind"
        assert cls.__doc__
    assert issubclass(rewind.StorageError, OSError)
    assert issubclass(rewind.BindError, rewind.NetworkError)


def test_blocking_calls_release_the_gil(tmp_path: Path) -> None:
    # While one thread appends (each append waits for a disk sync), another
    # Python thread keeps running.
    stop = threading.Event()
    ticks = []

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1
        ticks.append(n)

    with rewind.Store(tmp_path / "data") as s:
        t = threading.Thread(target=spin)
        t.start()
        for i in range(50):
            s.append(b"s", [str(i).encode()])
        stop.set()
        t.join()
    assert ticks and ticks[0] > 1000


def test_concurrent_appends_from_threads(store: rewind.Store) -> None:
    def writer(n: int) -> None:
        for i in range(50):
            store.append("w{0}".format(n), ["{0}-{1}".format(n, i)])

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.next_position() == 200
    for n in range(4):
        events = store.read_stream("w{0}".format(n))
        assert [e.data for e in events] == ["{0}-{1}".format(n, i).encode() for i in range(50)]
    assert [e.position for e in store.iter_log()] == list(range(200))


def test_version_is_the_packages() -> None:
    assert rewind.__version__.count(".") == 2
