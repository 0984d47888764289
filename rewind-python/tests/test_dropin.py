"""rewind.server.eventstores as code written for the original Rewind 0.3.1
uses it: the abstract `EventStore`."""

from __future__ import annotations

import pytest

from conftest import make_config
from rewind.server.eventstores import EventStore

# The abstract base class.


def test_base_from_config_raises_not_implemented() -> None:
    with pytest.raises(NotImplementedError):
        EventStore.from_config(None)
    with pytest.raises(NotImplementedError):
        EventStore.from_config(make_config({"s": {"path": "x"}}), path="x")
    with pytest.raises(NotImplementedError):
        EventStore().from_config(None)


def test_base_close_does_nothing() -> None:
    store = EventStore()
    assert store.close() is None
    assert store.close() is None
