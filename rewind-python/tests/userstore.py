"""An event store of a user's own, as a configuration file may name it
(`class=userstore.ListEventStore`)."""

from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Tuple

from rewind.server import config as rconfig
from rewind.server.eventstores import EventOrderError, EventStore

#: Every store built from a configuration, so tests can look inside.
INSTANCES: List["ListEventStore"] = []


class ListEventStore(EventStore):
    """Keeps events in a list; records the calls it gets."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.events: List[Tuple[str, bytes]] = []
        self.closed = False
        self.calls: List[str] = []

    @staticmethod
    def from_config(_config: Any, **options: Any) -> "ListEventStore":
        rconfig.check_config_options("ListEventStore", ("label",), ("preload",), options)
        store = ListEventStore(options["label"])
        for i in range(int(options.get("preload", "0"))):
            store.add_event("pre-{0}".format(i), "preloaded {0}".format(i).encode())
        INSTANCES.append(store)
        return store

    def _index(self, key: str) -> int:
        for i, (k, _) in enumerate(self.events):
            if k == key:
                return i
        raise EventStore.EventKeyDoesNotExistError(key)

    def add_event(self, key: str, event: bytes) -> None:
        self.calls.append("add_event")
        assert isinstance(key, str) and isinstance(event, bytes)
        if self.key_exists(key):
            raise EventStore.EventKeyAlreadyExistError(key)
        self.events.append((key, event))

    def get_events(
        self, from_: Optional[str] = None, to: Optional[str] = None
    ) -> Iterator[Tuple[str, bytes]]:
        self.calls.append("get_events")
        start = self._index(from_) + 1 if from_ else 0
        end = self._index(to) + 1 if to else len(self.events)
        if start > end:
            raise EventOrderError("from after to")
        return iter(self.events[start:end])

    def key_exists(self, key: str) -> bool:
        return any(k == key for k, _ in self.events)

    def close(self) -> None:
        self.closed = True


class FailingEventStore(ListEventStore):
    """Refuses events whose data starts with b"fail"."""

    @staticmethod
    def from_config(_config: Any, **options: Any) -> "FailingEventStore":
        store = FailingEventStore(options.get("label", "failing"))
        INSTANCES.append(store)
        return store

    def add_event(self, key: str, event: bytes) -> None:
        if event.startswith(b"fail"):
            raise RuntimeError("refused: {0!r}".format(event))
        super().add_event(key, event)


def config_sections(section: Dict[str, str]) -> Dict[str, Dict[str, str]]:
    return {"general": {"storage-backend": "user"}, "user": section}
