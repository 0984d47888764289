"""Type stubs of the native module of the `rewind` package."""

import os
from typing import (
    Callable,
    ClassVar,
    Collection,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Tuple,
    Union,
)

from typing_extensions import Literal, Self, final

__version__: str

_BytesLike = Union[bytes, bytearray, memoryview]
#: A stream name or an event id: bytes, or str (encoded as UTF-8).
_Name = Union[bytes, bytearray, memoryview, str]
#: An event to append: its data, an (id, data) pair (id None: generated), or a NewEvent.
_NewEvent = Union[
    bytes, bytearray, memoryview, str, Tuple[Optional[_Name], Union[_BytesLike, str]], NewEvent
]
#: A part of Store.append_multi: (stream, events) or (stream, events, expected_version).
_StreamAppend = Union[
    Tuple[_Name, Iterable[_NewEvent]],
    Tuple[_Name, Iterable[_NewEvent], Union[ExpectedVersion, int, None]],
]

class RewindError(Exception):
    """Base class of every error raised by the Rewind store."""

class WrongExpectedVersionError(RewindError):
    """An append's expected version did not match the stream."""

    stream: bytes
    expected: ExpectedVersion
    actual: Optional[int]

class DuplicateIdError(RewindError):
    """An event with this id is already stored."""

    id: bytes

class UnknownIdError(RewindError, LookupError):
    """No event has this id (or it belongs to another stream: `stream`)."""

    id: bytes
    stream: Optional[bytes]

class RangeOrderError(RewindError, ValueError):
    """In a range query, the `from` event comes after the `to` event."""

class InvalidArgumentError(RewindError, ValueError):
    """An argument is out of its domain."""

    reason: str

class StorageFullError(RewindError):
    """The store reached its size limit, or the disk is full."""

class ReadOnlyError(RewindError):
    """The store was opened read-only."""

class ClosedError(RewindError):
    """The store has been closed."""

class CorruptStoreError(RewindError):
    """The files are not a Rewind store, or are damaged."""

class ConfigError(RewindError):
    """A configuration error."""

    reason: str

class StorageError(RewindError, OSError):
    """The operating system or the storage engine reported an error."""

class NetworkError(RewindError):
    """The messaging layer (ZeroMQ) failed."""

class BindError(NetworkError):
    """A server endpoint could not be bound."""

    endpoint: str
    reason: str

class BackendError(RewindError):
    """An event store implemented outside the core (in Python) failed."""

class InternalError(RewindError):
    """A bug in Rewind: an internal thread panicked."""

@final
class ExpectedVersion:
    """The optimistic-concurrency condition of an append."""

    ANY: ClassVar[ExpectedVersion]
    NO_STREAM: ClassVar[ExpectedVersion]
    STREAM_EXISTS: ClassVar[ExpectedVersion]
    @staticmethod
    def exact(version: int) -> ExpectedVersion: ...
    @property
    def version(self) -> Optional[int]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Event:
    """An event read from the store."""

    @property
    def id(self) -> bytes: ...
    @property
    def data(self) -> bytes: ...
    @property
    def type(self) -> str: ...
    @property
    def metadata(self) -> bytes: ...
    @property
    def stream(self) -> bytes: ...
    @property
    def version(self) -> int: ...
    @property
    def position(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class NewEvent:
    """An event to append, with an optional id, a type and metadata."""

    def __new__(
        cls,
        data: Union[_BytesLike, str],
        id: Optional[_Name] = None,
        type: str = ...,
        metadata: Union[_BytesLike, str, None] = None,
    ) -> NewEvent: ...
    @property
    def id(self) -> Optional[bytes]: ...
    @property
    def data(self) -> bytes: ...
    @property
    def type(self) -> str: ...
    @property
    def metadata(self) -> bytes: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class CaughtUp:
    """The marker a subscription hands out once it has caught up with the log."""

CAUGHT_UP: CaughtUp

@final
class Subscription(Iterator[Union[Event, CaughtUp]]):
    """A live subscription to the log (see Store.subscribe and Client.subscribe)."""

    def next(self, timeout: Optional[float] = None) -> Union[Event, CaughtUp, None]: ...
    def __iter__(self) -> Self: ...
    def __next__(self) -> Union[Event, CaughtUp]: ...
    def stop(self) -> None: ...
    @property
    def stopped(self) -> bool: ...
    @property
    def position(self) -> int: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *args: object) -> Literal[False]: ...

@final
class Appended:
    """Where one appended event landed."""

    @property
    def id(self) -> bytes: ...
    @property
    def stream(self) -> bytes: ...
    @property
    def version(self) -> int: ...
    @property
    def position(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class StreamHead:
    """The last event of a stream."""

    @property
    def id(self) -> bytes: ...
    @property
    def version(self) -> int: ...
    @property
    def position(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class EventIterator(Iterator[Event]):
    """A lazy iteration over events, a chunk at a time."""

    def __iter__(self) -> Self: ...
    def __next__(self) -> Event: ...

class _EventStore:
    """The methods `Store` and `Client` share: the same arguments, results
    and exceptions (not a class at run time)."""

    def append(
        self,
        stream: _Name,
        events: Iterable[_NewEvent],
        expected_version: Union[ExpectedVersion, int, None] = None,
    ) -> List[Appended]: ...
    def append_multi(self, parts: Iterable[_StreamAppend]) -> List[Appended]: ...
    def read_stream(
        self, stream: _Name, from_version: int = 0, limit: Optional[int] = None
    ) -> List[Event]: ...
    def read_stream_backward(
        self, stream: _Name, from_version: Optional[int] = None, limit: Optional[int] = None
    ) -> List[Event]: ...
    def read_log(
        self,
        from_position: int = 0,
        limit: Optional[int] = None,
        stream_prefix: Optional[_Name] = None,
        types: Optional[Collection[_Name]] = None,
    ) -> List[Event]: ...
    def read_log_backward(
        self, from_position: Optional[int] = None, limit: Optional[int] = None
    ) -> List[Event]: ...
    def subscribe(
        self,
        from_position: Optional[int] = None,
        *,
        stream_prefix: Optional[_Name] = None,
        types: Optional[Collection[_Name]] = None,
    ) -> Subscription: ...
    def iter_stream(
        self, stream: _Name, from_version: int = 0, *, chunk_size: int = 256
    ) -> EventIterator: ...
    def iter_log(self, from_position: int = 0, *, chunk_size: int = 256) -> EventIterator: ...
    def get(self, id: _Name) -> Optional[Event]: ...
    def contains(self, id: _Name) -> bool: ...
    def __contains__(self, id: object, /) -> bool: ...
    def stream_head(self, stream: _Name) -> Optional[StreamHead]: ...
    def next_position(self) -> int: ...
    def list_streams(
        self, after: Optional[_Name] = None, limit: int = 1000
    ) -> List[StreamListing]: ...
    def info(self) -> StoreInfo: ...
    def close(self) -> None: ...
    def __enter__(self) -> Self: ...
    def __exit__(self, *args: object) -> Literal[False]: ...

@final
class Store(_EventStore):
    """An event store: named streams of events, durable appends with
    optimistic concurrency, reads by version, position and id."""

    def __new__(
        cls,
        path: Union[str, os.PathLike[str]],
        *,
        read_only: bool = False,
        map_size_limit: Optional[int] = None,
        initial_map_size: Optional[int] = None,
    ) -> Store: ...
    @staticmethod
    def postgres(dsn: str, *, max_idle_connections: Optional[int] = None) -> Store: ...
    @staticmethod
    def in_memory() -> Store: ...
    def query(
        self,
        stream: _Name,
        from_id: Optional[_Name] = None,
        to_id: Optional[_Name] = None,
        *,
        chunk_size: int = 256,
    ) -> EventIterator: ...
    def _query_pairs(
        self, stream: _Name, from_id: Optional[_Name] = None, to_id: Optional[_Name] = None
    ) -> List[Tuple[str, bytes]]: ...

@final
class Client(_EventStore):
    """A connection to a Rewind server's native endpoint, with the methods
    of `Store`."""

    def __new__(
        cls,
        endpoint: str,
        *,
        timeout: Optional[float] = None,
        retries: Optional[int] = None,
        server_public_key: Optional[str] = None,
        public_key: Optional[str] = None,
        secret_key: Optional[str] = None,
    ) -> Client: ...

@final
class StreamListing:
    """A stream and the version and position of its last event."""

    @property
    def name(self) -> bytes: ...
    @property
    def version(self) -> int: ...
    @property
    def position(self) -> int: ...
    def __eq__(self, other: object, /) -> bool: ...

@final
class StoreInfo:
    """What a store (embedded, or a server) says of itself."""

    @property
    def version(self) -> str: ...
    @property
    def next_position(self) -> int: ...
    @property
    def protocol_versions(self) -> List[str]: ...
    @property
    def max_message_size(self) -> Optional[int]: ...
    @property
    def heartbeat(self) -> Optional[float]: ...
    def __eq__(self, other: object, /) -> bool: ...

def curve_keypair() -> Tuple[str, str]: ...

@final
class ServerConfig:
    """A configuration of the server, as the core interprets it."""

    @staticmethod
    def from_sections(
        sections: Sequence[Tuple[str, Sequence[Tuple[str, str]]]],
        overrides: Sequence[Tuple[str, Optional[str]]] = ...,
    ) -> ServerConfig: ...
    @property
    def store_kind(self) -> Literal["memory", "lmdb", "postgres", "class"]: ...
    @property
    def store_section(self) -> Optional[str]: ...
    @property
    def store_class(self) -> Optional[str]: ...
    @property
    def store_path(self) -> Optional[str]: ...
    @property
    def default_stream(self) -> bytes: ...
    def describe(self) -> str: ...

def serve(
    config: ServerConfig,
    exit_codeword: Optional[bytes] = None,
    python_store: Optional[object] = None,
    on_ready: Optional[Callable[[str], object]] = None,
) -> Literal["exit_codeword", "stopped"]: ...
def cli_flags() -> List[Tuple[str, Optional[str], str]]: ...
def _store_over_event_store(event_store: object, stream: Optional[_Name] = None) -> Store: ...
def _parse_size(text: str) -> Optional[int]: ...
def _lmdb_store_options(options: Sequence[Tuple[str, str]]) -> Tuple[str, int, Optional[int]]: ...
def _postgres_store_options(options: Sequence[Tuple[str, str]]) -> Tuple[str, int]: ...
def _embedded_default_sections() -> List[Tuple[str, List[Tuple[str, str]]]]: ...

_DEFAULT_DATA_DIR: str
_EMBEDDED_STORE_SECTION: str
