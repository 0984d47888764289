"""Rewind as a persistence module of the `eventsourcing` library (9.5.x).

Set ``PERSISTENCE_MODULE=rewind.eventsourcing`` and one of:

* ``REWIND_ENDPOINT=tcp://host:9004``: a Rewind server's native endpoint;
  the application talks to it with a `rewind.Client` of its own. For a
  server that requires CURVE, also ``REWIND_SERVER_PUBLIC_KEY``,
  ``REWIND_PUBLIC_KEY`` and ``REWIND_SECRET_KEY`` (Z85, see
  `rewind.curve_keypair`).
* ``REWIND_POSTGRES=<dsn>``: a PostgreSQL store in the database the
  connection string names (libpq ``key=value`` form or a ``postgresql://``
  URL); several processes and servers may share it and its one log.
* ``REWIND_PATH=/some/dir``: an LMDB store in that directory, shared by
  every application of the process that names the same directory.
* ``REWIND_IN_MEMORY=y``: a new in-memory store per application.

The settings are read from the application's environment as any other
eventsourcing setting, so ``BANKACCOUNTS_REWIND_PATH`` works too. The
recorders use only the methods `rewind.Store` and `rewind.Client` share,
so they behave the same over either.

How eventsourcing's records map onto Rewind's:

* The stored events of aggregate ``ID`` are the stream
  ``<app>/events/<ID>`` (``<app>/snapshots/<ID>`` for snapshots, where
  ``<app>`` is the application's name; a recorder made without a name uses
  the empty name). Each Rewind event has the stored event's topic as its
  type, its state as its data, and metadata ``uuid:<version>`` or
  ``str:<version>``: the originator version chosen by the caller and whether
  the originator id is a UUID. The stream version is Rewind's own (0, 1,
  2, ...); originator versions only have to increase along a stream, so
  sparse versions (snapshots) are stored as they are. Inserting an
  originator version that is not greater than the last one stored for the
  aggregate raises `IntegrityError`, also for a lower version that was never
  stored.
* `insert_events` is one `Store.append_multi`: every aggregate of the call,
  each with the expected version read from its stream's last event, plus
  the tracking record when a process recorder is given one. A version
  conflict (another writer came first) or an id taken raises
  eventsourcing's `IntegrityError`; nothing of the call is then stored.
* Notification ids are log positions + 1. The application's notifications
  are the events of its ``<app>/events/`` streams, so they have gaps where
  other records (snapshots, tracking records, other applications) sit.
* A tracking record (application ``A``, notification ``n``) is an event of
  the stream ``<app>/tracking/A`` with id ``<app>/tracking/A#n``, type
  ``eventsourcing.Tracking`` and metadata ``n``; it is appended in the same
  ``append_multi`` as the process's new events. The last event of that
  stream gives `max_tracking_id`.
* `subscribe` follows the log with `subscribe` (no polling); over a
  server, the subscription survives reconnects and server restarts.
"""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type, Union
from uuid import UUID

from eventsourcing.persistence import (
    AggregateRecorder,
    ApplicationRecorder,
    InfrastructureFactory,
    IntegrityError,
    Notification,
    ProcessRecorder,
    StoredEvent,
    Subscription,
    Tracking,
    TrackingRecorder,
)
from eventsourcing.utils import Environment, resolve_topic, strtobool

from rewind import (
    CAUGHT_UP,
    Client,
    DuplicateIdError,
    Event,
    ExpectedVersion,
    NewEvent,
    Store,
    WrongExpectedVersionError,
)

__all__ = [
    "EventStore",
    "Factory",
    "RewindAggregateRecorder",
    "RewindApplicationRecorder",
    "RewindProcessRecorder",
    "RewindSubscription",
    "RewindTrackingRecorder",
]

#: What the recorders run on: an embedded store or a server's client.
EventStore = Union[Store, Client]

_CHUNK = 256
_TRACKING_TYPE = "eventsourcing.Tracking"


def _originator_metadata(originator_id: Union[UUID, str], version: int) -> bytes:
    kind = "uuid" if isinstance(originator_id, UUID) else "str"
    return f"{kind}:{version}".encode()


def _originator_version(e: Event) -> int:
    return int(e.metadata.partition(b":")[2])


class _Namespace:
    """The stream names of one application in a store."""

    def __init__(self, app_name: str, purpose: str) -> None:
        self.base = f"{app_name}/"
        self.events = f"{app_name}/{purpose}/"

    def stream(self, originator_id: Union[UUID, str]) -> str:
        return self.events + str(originator_id)

    def tracking_stream(self, application_name: str) -> str:
        return f"{self.base}tracking/{application_name}"


class _RewindRecorder:
    def __init__(self, store: EventStore, app_name: str = "", purpose: str = "events") -> None:
        self.store = store
        self.names = _Namespace(app_name, purpose)
        self._events_prefix = self.names.events.encode()

    # Writing.

    def _event_parts(
        self, stored_events: Sequence[StoredEvent]
    ) -> Tuple[List[Tuple[str, List[NewEvent], ExpectedVersion]], List[Tuple[int, int]]]:
        """One append per aggregate (in order of first appearance), and for
        each stored event, its (part, offset) in them."""
        groups: Dict[str, List[StoredEvent]] = {}
        where: List[Tuple[int, int]] = []
        order: List[str] = []
        for s in stored_events:
            stream = self.names.stream(s.originator_id)
            group = groups.get(stream)
            if group is None:
                group = groups[stream] = []
                order.append(stream)
            elif s.originator_version <= group[-1].originator_version:
                msg = f"Stored events are not unique or not in order: {s}"
                raise IntegrityError(msg)
            where.append((order.index(stream), len(group)))
            group.append(s)
        parts = []
        for stream in order:
            group = groups[stream]
            expected = ExpectedVersion.NO_STREAM
            last = self.store.read_stream_backward(stream, None, 1)
            if last:
                if _originator_version(last[0]) >= group[0].originator_version:
                    msg = f"Stored event already recorded (or older than the last one): {group[0]}"
                    raise IntegrityError(msg)
                expected = ExpectedVersion.exact(last[0].version)
            events = [
                NewEvent(
                    s.state,
                    type=s.topic,
                    metadata=_originator_metadata(s.originator_id, s.originator_version),
                )
                for s in group
            ]
            parts.append((stream, events, expected))
        return parts, where

    def _tracking_part(self, tracking: Tracking) -> Tuple[str, List[NewEvent], ExpectedVersion]:
        stream = self.names.tracking_stream(tracking.application_name)
        expected = ExpectedVersion.NO_STREAM
        last = self.store.read_stream_backward(stream, None, 1)
        if last:
            max_id = int(last[0].metadata)
            if max_id >= tracking.notification_id:
                msg = (
                    f"Tracking notification ID {tracking.notification_id} "
                    f"not greater than current max tracking ID {max_id}"
                )
                raise IntegrityError(msg)
            expected = ExpectedVersion.exact(last[0].version)
        event = NewEvent(
            # A nonce: a resent tracking record is never mistaken for a retry.
            uuid.uuid4().bytes,
            id=f"{stream}#{tracking.notification_id}",
            type=_TRACKING_TYPE,
            metadata=str(tracking.notification_id),
        )
        return stream, [event], expected

    def _write(
        self,
        stored_events: Sequence[StoredEvent],
        tracking: Optional[Tracking],
    ) -> List[int]:
        parts, where = self._event_parts(stored_events)
        if tracking is not None:
            parts.append(self._tracking_part(tracking))
        if not parts:
            return []
        try:
            appended = self.store.append_multi(parts)
        except (WrongExpectedVersionError, DuplicateIdError) as e:
            raise IntegrityError(str(e)) from e
        firsts = []
        n = 0
        for _, events, _ in parts:
            firsts.append(n)
            n += len(events)
        return [appended[firsts[p] + i].position + 1 for p, i in where]

    # Reading.

    def _to_stored(self, e: Event) -> Tuple[Union[UUID, str], int]:
        kind, _, version = e.metadata.partition(b":")
        name = e.stream[len(self._events_prefix) :].decode()
        return (UUID(name) if kind == b"uuid" else name), int(version)

    def select_events(
        self,
        originator_id: Union[UUID, str],
        *,
        gt: Optional[int] = None,
        lte: Optional[int] = None,
        desc: bool = False,
        limit: Optional[int] = None,
    ) -> Sequence[StoredEvent]:
        stream = self.names.stream(originator_id)
        results: List[StoredEvent] = []

        def stored(e: Event, version: int) -> StoredEvent:
            return StoredEvent(
                originator_id=originator_id,
                originator_version=version,
                topic=e.type,
                state=e.data,
            )

        if not desc and gt is None:
            # Forward from the start.
            next_version = 0
            while limit is None or len(results) < limit:
                chunk = self.store.read_stream(stream, next_version, _CHUNK)
                if not chunk:
                    break
                for e in chunk:
                    v = _originator_version(e)
                    if lte is not None and v > lte:
                        return results
                    results.append(stored(e, v))
                    if limit is not None and len(results) == limit:
                        return results
                next_version = chunk[-1].version + 1
            return results

        # Backward from the last event that can have an originator version
        # up to `lte`: originator versions increase by at least 1 a stream
        # version, so it is at most `lte - (version of the first event)`.
        start: Optional[int] = None
        if lte is not None:
            first = self.store.read_stream(stream, 0, 1)
            if not first:
                return []
            base = _originator_version(first[0])
            if lte < base:
                return []
            start = lte - base
        done = False
        while not done:
            chunk = self.store.read_stream_backward(stream, start, _CHUNK)
            if not chunk:
                break
            for e in chunk:
                v = _originator_version(e)
                if lte is not None and v > lte:
                    continue
                if gt is not None and v <= gt:
                    done = True
                    break
                results.append(stored(e, v))
                if desc and limit is not None and len(results) == limit:
                    done = True
                    break
            if chunk[-1].version == 0:
                break
            start = chunk[-1].version - 1
        if not desc:
            results.reverse()
            if limit is not None:
                del results[limit:]
        return results


class RewindAggregateRecorder(_RewindRecorder, AggregateRecorder):
    """Stored events of aggregates (or snapshots) in Rewind streams."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Optional[Sequence[int]]:
        self._write(stored_events, None)
        return None


class RewindApplicationRecorder(_RewindRecorder, ApplicationRecorder):
    """Stored events and the application's notification log."""

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Optional[Sequence[int]]:
        return self._write(stored_events, kwargs.get("tracking"))

    def _notification(self, e: Event) -> Notification:
        originator_id, version = self._to_stored(e)
        return Notification(
            id=e.position + 1,
            originator_id=originator_id,
            originator_version=version,
            topic=e.type,
            state=e.data,
        )

    def select_notifications(
        self,
        start: Optional[int],
        limit: int,
        stop: Optional[int] = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        if start is None:
            position = 0
        else:
            position = max(start - 1 if inclusive_of_start else start, 0)
        if stop is not None and stop <= position:
            return []
        events = self.store.read_log(
            position, limit, stream_prefix=self._events_prefix, types=list(topics) or None
        )
        return [
            self._notification(e) for e in events if stop is None or e.position + 1 <= stop
        ]

    def max_notification_id(self) -> Optional[int]:
        position: Optional[int] = None
        while True:
            chunk = self.store.read_log_backward(position, _CHUNK)
            for e in chunk:
                if e.stream.startswith(self._events_prefix):
                    return e.position + 1
            if not chunk or chunk[-1].position == 0:
                return None
            position = chunk[-1].position - 1

    def subscribe(
        self, gt: Optional[int] = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return RewindSubscription(self, gt=gt, topics=topics)


class RewindSubscription(Subscription[RewindApplicationRecorder]):
    """The notifications after `gt`, then live ones, from the store's
    `subscribe`."""

    def __init__(
        self,
        recorder: RewindApplicationRecorder,
        gt: Optional[int] = None,
        topics: Sequence[str] = (),
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._sub = recorder.store.subscribe(
            gt or 0,
            stream_prefix=recorder._events_prefix,
            types=list(topics) or None,
        )

    def stop(self) -> None:
        super().stop()
        self._sub.stop()

    def __next__(self) -> Notification:
        while not self._has_been_stopped:
            item = self._sub.next()
            if item is None:
                break
            if item is CAUGHT_UP or not isinstance(item, Event):
                continue
            if self._has_been_stopped:
                break
            return self._recorder._notification(item)
        raise StopIteration


class RewindTrackingRecorder(_RewindRecorder, TrackingRecorder):
    """Tracking records as events of a tracking stream per upstream application."""

    def insert_tracking(self, tracking: Tracking) -> None:
        self._write((), tracking)

    def max_tracking_id(self, application_name: str) -> Optional[int]:
        stream = self.names.tracking_stream(application_name)
        last = self.store.read_stream_backward(stream, None, 1)
        return int(last[0].metadata) if last else None


class RewindProcessRecorder(RewindTrackingRecorder, RewindApplicationRecorder, ProcessRecorder):
    """An application recorder whose writes can carry a tracking record."""


class _SharedStores:
    """The LMDB stores this process has open, one per directory, shared by
    every factory that names it, and closed when the last one closes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stores: Dict[Tuple[int, int], Tuple[Store, int]] = {}

    def open(self, path: str) -> Tuple[Store, Tuple[int, int]]:
        os.makedirs(path, exist_ok=True)
        st = os.stat(path)
        key = (st.st_dev, st.st_ino)
        with self._lock:
            entry = self._stores.get(key)
            store = entry[0] if entry else Store(path)
            self._stores[key] = (store, (entry[1] if entry else 0) + 1)
            return store, key

    def release(self, key: Tuple[int, int]) -> None:
        with self._lock:
            entry = self._stores.get(key)
            if entry is None:
                return
            if entry[1] > 1:
                self._stores[key] = (entry[0], entry[1] - 1)
                return
            del self._stores[key]
        entry[0].close()


_SHARED = _SharedStores()


class Factory(InfrastructureFactory[RewindTrackingRecorder]):
    """The infrastructure factory of `rewind.eventsourcing`: recorders over
    one Rewind store, chosen by ``REWIND_ENDPOINT`` (a server),
    ``REWIND_POSTGRES`` (a database), ``REWIND_PATH`` or
    ``REWIND_IN_MEMORY``."""

    REWIND_ENDPOINT = "REWIND_ENDPOINT"
    REWIND_SERVER_PUBLIC_KEY = "REWIND_SERVER_PUBLIC_KEY"
    REWIND_PUBLIC_KEY = "REWIND_PUBLIC_KEY"
    REWIND_SECRET_KEY = "REWIND_SECRET_KEY"
    REWIND_POSTGRES = "REWIND_POSTGRES"
    REWIND_PATH = "REWIND_PATH"
    REWIND_IN_MEMORY = "REWIND_IN_MEMORY"

    def __init__(self, env: Union[Environment, Any, None]) -> None:
        super().__init__(env)
        endpoint = self.env.get(self.REWIND_ENDPOINT)
        postgres = self.env.get(self.REWIND_POSTGRES)
        path = self.env.get(self.REWIND_PATH)
        in_memory = strtobool(self.env.get(self.REWIND_IN_MEMORY, "no") or "no")
        self._key: Optional[Tuple[int, int]] = None
        self._client: Optional[Client] = None
        self._own: Optional[Store] = None
        self.store: EventStore
        if endpoint:
            self._client = self.store = Client(
                endpoint,
                server_public_key=self.env.get(self.REWIND_SERVER_PUBLIC_KEY) or None,
                public_key=self.env.get(self.REWIND_PUBLIC_KEY) or None,
                secret_key=self.env.get(self.REWIND_SECRET_KEY) or None,
            )
        elif postgres:
            self._own = self.store = Store.postgres(postgres)
        elif path and not in_memory:
            self.store, self._key = _SHARED.open(path)
        elif in_memory:
            self.store = Store.in_memory()
        else:
            msg = (
                "rewind.eventsourcing needs REWIND_ENDPOINT (a server's native endpoint), "
                "REWIND_POSTGRES (a PostgreSQL connection string), "
                "REWIND_PATH (a directory for an LMDB store) or REWIND_IN_MEMORY=y"
            )
            raise OSError(msg)
        self._app_name = self.env.name

    def aggregate_recorder(self, purpose: str = "events") -> AggregateRecorder:
        return RewindAggregateRecorder(self.store, self._app_name, purpose)

    def application_recorder(self) -> ApplicationRecorder:
        topic = self.env.get(self.APPLICATION_RECORDER_TOPIC)
        cls: Type[RewindApplicationRecorder] = (
            resolve_topic(topic) if topic else RewindApplicationRecorder
        )
        return cls(self.store, self._app_name)

    def tracking_recorder(
        self, tracking_recorder_class: Optional[Type[RewindTrackingRecorder]] = None
    ) -> RewindTrackingRecorder:
        if tracking_recorder_class is None:
            topic = self.env.get(self.TRACKING_RECORDER_TOPIC)
            tracking_recorder_class = resolve_topic(topic) if topic else RewindTrackingRecorder
        assert tracking_recorder_class is not None
        return tracking_recorder_class(self.store, self._app_name)

    def process_recorder(self) -> ProcessRecorder:
        topic = self.env.get(self.PROCESS_RECORDER_TOPIC)
        cls: Type[RewindProcessRecorder] = resolve_topic(topic) if topic else RewindProcessRecorder
        return cls(self.store, self._app_name)

    def close(self) -> None:
        key, self._key = self._key, None
        if key is not None:
            _SHARED.release(key)
        client, self._client = self._client, None
        if client is not None:
            client.close()
        own, self._own = self._own, None
        if own is not None:
            own.close()
        super().close()
