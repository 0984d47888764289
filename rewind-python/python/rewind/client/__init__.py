"""A client of the Rewind server's v1 protocol, on pyzmq sockets.

The API of the original `rewind-client` package, unchanged:

- `publish_event(socket, event)` stores an event through a REQ socket
  connected to the query endpoint.
- `query_events(socket, from_=None, to=None)` yields `(event id, event)`
  pairs from the query endpoint, asking again as long as the server caps its
  replies (100 events each).
- `yield_events_after(streamsock, reqsock, lasteventid=None)` reads the next
  event from the streaming endpoint (a SUB socket) and, when the previous-id
  chain shows events were missed, fetches them first with a query.

Event ids are `bytes`; an id given as `str` is encoded as UTF-8.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator, List, Optional, Tuple, Union

import zmq

logger = logging.getLogger(__name__)

EventId = Union[bytes, str]


class QueryException(Exception):
    """The server answered a request with an error.

    Usually this means a query named an event id the server does not have.
    """


class PublishException(QueryException):
    """The server refused to store a published event."""


def _id_frame(eventid: Optional[EventId]) -> bytes:
    if eventid is None:
        return b""
    if isinstance(eventid, str):
        return eventid.encode("utf-8")
    return bytes(eventid)


def _recv_more(socket: Any) -> bool:
    return bool(socket.getsockopt(zmq.RCVMORE))


def _real_query(
    socket: Any, from_: Optional[EventId], to: Optional[EventId]
) -> Tuple[bool, List[Tuple[bytes, bytes]]]:
    """Sends one QUERY and reads its reply.

    Returns `(done, events)`: `done` is False when the server capped the
    reply (more events may follow), and `events` is a list of
    `(eventid, eventdata)` pairs.
    """
    socket.send(b"QUERY", zmq.SNDMORE)
    socket.send(_id_frame(from_), zmq.SNDMORE)
    socket.send(_id_frame(to))

    done = False
    events: List[Tuple[bytes, bytes]] = []
    while True:
        frame = socket.recv()
        if frame == b"END" and not _recv_more(socket):
            done = True
            break
        if frame.startswith(b"ERROR") and not events and not _recv_more(socket):
            raise QueryException("Could not query: {0!r}".format(frame))
        if not _recv_more(socket):
            raise QueryException(
                "Malformed reply: an event id without its data: {0!r}".format(frame)
            )
        data = socket.recv()
        events.append((frame, data))
        if not _recv_more(socket):
            break
    return done, events


def query_events(
    socket: Any, from_: Optional[EventId] = None, to: Optional[EventId] = None
) -> Iterator[Tuple[bytes, bytes]]:
    """Yield the events after `from_` (exclusive) up to `to` (inclusive).

    socket -- a pyzmq REQ socket connected to the server's query endpoint.
    from_  -- an event id, or None for the first event ever.
    to     -- an event id, or None for the last event.

    Yields `(eventid, eventdata)` pairs of bytes. The server returns at most
    100 events per reply; this generator asks again from the last id it got
    until the whole range is read. Raises `QueryException` when the server
    answers with an error (usually: an unknown event id).
    """
    cursor = from_
    while True:
        done, events = _real_query(socket, cursor, to)
        for eventid, eventdata in events:
            yield eventid, eventdata
        if done or not events:
            return
        cursor = events[-1][0]
        if to is not None and cursor == _id_frame(to):
            return


def _get_single_streamed_event(streamsock: Any) -> Tuple[bytes, bytes, bytes]:
    """Reads one streamed event: `(eventid, previous eventid, eventdata)`."""
    eventid = streamsock.recv()
    if not _recv_more(streamsock):
        raise QueryException("Malformed streamed event: one frame only")
    preveventid = streamsock.recv()
    if not _recv_more(streamsock):
        raise QueryException("Malformed streamed event: two frames only")
    eventdata = streamsock.recv()
    while _recv_more(streamsock):
        streamsock.recv()
    return eventid, preveventid, eventdata


def yield_events_after(
    streamsock: Any, reqsock: Any, lasteventid: Optional[EventId] = None
) -> Iterator[Tuple[bytes, bytes]]:
    """Yield the next streamed event, preceded by any events missed since
    `lasteventid`.

    streamsock  -- a pyzmq SUB socket connected to the streaming endpoint
                   (subscribed to everything).
    reqsock     -- a pyzmq REQ socket connected to the query endpoint.
    lasteventid -- the id of the last event the caller has seen.

    Reads one event from `streamsock`. If its previous-event id is neither
    `lasteventid` nor empty, events were missed (for example, the publisher
    dropped them at its high-water mark): they are queried with `reqsock`
    and yielded first. Yields `(eventid, eventdata)` pairs.
    """
    last = None if lasteventid is None else _id_frame(lasteventid)
    cureventid, preveventid, eventdata = _get_single_streamed_event(streamsock)
    if preveventid != b"" and preveventid != last:
        logger.info(
            "Seem to have reached high watermark. Querying to catch up."
        )
        for event in query_events(reqsock, last, preveventid):
            yield event
    yield cureventid, eventdata


def publish_event(socket: Any, event: bytes) -> None:
    """Publish an event to the server.

    socket -- a pyzmq REQ socket connected to the server's query endpoint.
    event  -- the event's data (bytes).

    Sends `PUBLISH`, event and, on a REQ socket, waits for the reply: the
    event is durably stored when this returns. Raises `PublishException` when
    the server answers with an error.
    """
    if not isinstance(event, (bytes, bytearray, memoryview)):
        raise TypeError("event must be bytes, not {0}".format(type(event).__name__))
    socket.send(b"PUBLISH", zmq.SNDMORE)
    socket.send(event)
    if socket.getsockopt(zmq.TYPE) != zmq.REQ:
        return
    reply = socket.recv()
    while _recv_more(socket):
        socket.recv()
    if reply != b"PUBLISHED":
        raise PublishException("Could not publish: {0!r}".format(reply))


__all__ = [
    "QueryException",
    "PublishException",
    "publish_event",
    "query_events",
    "yield_events_after",
]
