"""rewind.client: the original rewind-client API against the in-process
server."""

from __future__ import annotations

import re
import time
from typing import Callable

import pytest
import zmq

import rewind.client as clients
import userstore
from conftest import Running

UUID = re.compile(rb"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
def running(serve: Callable[..., Running]) -> Running:
    return serve()


def test_publish_and_query_all(running: Running) -> None:
    req = running.req()
    sent = [b"Event with id %d" % i for i in range(250)]
    for event in sent:
        clients.publish_event(req, event)
    events = list(clients.query_events(req))
    assert [data for _, data in events] == sent
    assert all(UUID.match(eid) for eid, _ in events)
    assert len({eid for eid, _ in events}) == 250


def test_query_since_before_and_between(running: Running) -> None:
    req = running.req()
    for i in range(230):
        clients.publish_event(req, b"%d" % i)
    allevents = list(clients.query_events(req))
    from_, to = allevents[3][0], allevents[-3][0]
    assert list(clients.query_events(req, from_=from_)) == allevents[4:]
    assert list(clients.query_events(req, to=to)) == allevents[:-2]
    assert list(clients.query_events(req, from_, to)) == allevents[4:-2]
    # Exactly 100 events up to `to`: no extra round trip needed, none lost.
    assert list(clients.query_events(req, None, allevents[99][0])) == allevents[:100]
    assert list(clients.query_events(req, allevents[99][0], allevents[199][0])) == allevents[
        100:200
    ]
    # Ids may be given as str.
    assert list(clients.query_events(req, from_.decode(), to.decode())) == allevents[4:-2]


def test_query_of_an_unknown_id_raises(running: Running) -> None:
    req = running.req()
    clients.publish_event(req, b"x")
    result = clients.query_events(req, from_=b"non-exist")
    with pytest.raises(clients.QueryException):
        list(result)
    # The socket is usable afterwards.
    assert len(list(clients.query_events(req))) == 1


def test_empty_store_query(running: Running) -> None:
    assert list(clients.query_events(running.req())) == []


def test_yield_events_after_the_first_event(running: Running) -> None:
    req, sub = running.req(), running.sub()
    time.sleep(0.3)
    clients.publish_event(req, b"event1")
    [(eid, data)] = list(clients.yield_events_after(sub, req))
    assert data == b"event1" and UUID.match(eid)


def test_yield_events_after_the_next_event(running: Running) -> None:
    req, sub = running.req(), running.sub()
    time.sleep(0.3)
    clients.publish_event(req, b"event1")
    clients.publish_event(req, b"event2")
    [(id1, _)] = list(clients.yield_events_after(sub, req))
    assert [d for _, d in clients.yield_events_after(sub, req, id1)] == [b"event2"]


def test_yield_events_after_fills_a_gap_with_a_query(running: Running) -> None:
    req = running.req()
    for i in range(120):
        clients.publish_event(req, b"missed %d" % i)
    lastseen = list(clients.query_events(req))[4][0]
    # A subscriber that connected late: it missed everything after `lastseen`.
    sub = running.sub()
    time.sleep(0.3)
    clients.publish_event(req, b"live")
    events = list(clients.yield_events_after(sub, req, lastseen))
    assert [d for _, d in events] == [b"missed %d" % i for i in range(5, 120)] + [b"live"]


def test_yield_events_after_accepts_str_ids(running: Running) -> None:
    req, sub = running.req(), running.sub()
    time.sleep(0.3)
    clients.publish_event(req, b"a")
    clients.publish_event(req, b"b")
    [(id1, _)] = list(clients.yield_events_after(sub, req))
    assert [d for _, d in clients.yield_events_after(sub, req, id1.decode())] == [b"b"]


def test_publish_needs_bytes(running: Running) -> None:
    with pytest.raises(TypeError):
        clients.publish_event(running.req(), "text")  # type: ignore[arg-type]


def test_publish_refused_by_the_store_raises(serve: Callable[..., Running]) -> None:
    running = serve(userstore.config_sections({"class": "userstore.FailingEventStore"}))
    req = running.req()
    with pytest.raises(clients.PublishException) as info:
        clients.publish_event(req, b"fail this")
    assert isinstance(info.value, clients.QueryException)
    clients.publish_event(req, b"works")


def test_publish_on_a_dealer_does_not_wait(running: Running) -> None:
    # Only REQ sockets wait for the reply; the caller reads it otherwise.
    dealer = running.socket(zmq.DEALER, running.endpoints.query)
    dealer.send(b"", zmq.SNDMORE)
    clients.publish_event(dealer, b"through a dealer")
    assert dealer.recv_multipart() == [b"", b"PUBLISHED"]
    assert [d for _, d in clients.query_events(running.req())] == [b"through a dealer"]
