"""The PostgreSQL store from Python: `rewind.Store.postgres(dsn)`, the
drop-in `PostgresEventStore` built from a configuration section, and a
configuration naming it, on a cluster these tests start (`pgcluster`)."""

from __future__ import annotations

import configparser
from typing import Iterator

import pytest

import rewind
from rewind import _native
from rewind.server import config as rconfig
from rewind.server.eventstores import PostgresEventStore

from pgcluster import Cluster


def db_name(dsn: str) -> str:
    return dsn.rsplit("dbname=", 1)[1]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    try:
        yield c
    finally:
        c.stop()


def test_two_stores_on_one_database_share_its_log(cluster: Cluster) -> None:
    dsn = cluster.dsn(cluster.new_database())
    a = rewind.Store.postgres(dsn)
    b = rewind.Store.postgres(dsn, max_idle_connections=2)
    first = a.append("orders", [b"one"], rewind.ExpectedVersion.NO_STREAM)
    second = b.append("orders", [b"two"], rewind.ExpectedVersion.exact(0))
    assert [x.position for x in first + second] == [0, 1]
    assert [e.data for e in a.read_stream("orders")] == [b"one", b"two"]
    assert b.next_position() == 2
    assert repr(a).startswith("Store.postgres(") and db_name(dsn) in repr(a)
    a.close()
    b.close()


def test_a_configured_postgres_event_store(cluster: Cluster) -> None:
    db = cluster.new_database()
    config = configparser.ConfigParser()
    config.read_dict(
        {
            "general": {"query-bind-endpoint": "tcp://127.0.0.1:0", "storage-backend": "pg"},
            "pg": {
                "class": "rewind.server.eventstores.PostgresEventStore",
                "dsn": cluster.dsn(db),
            },
        }
    )
    store = rconfig.construct_eventstore(config)
    assert isinstance(store, PostgresEventStore)
    store.add_event("k1", b"first")
    store.add_event("k2", b"second")
    assert store.key_exists("k1")
    assert list(store.get_events()) == [("k1", b"first"), ("k2", b"second")]
    store.close()
    # The server's configuration takes the store itself, not from Python.
    parsed = _native.ServerConfig.from_sections(
        [(s, list(config[s].items())) for s in config.sections()], []
    )
    assert parsed.store_kind == "postgres"


def test_a_section_without_dsn_is_a_configuration_error() -> None:
    with pytest.raises(rconfig.ConfigurationError, match="dsn"):
        PostgresEventStore.from_config(None)


def test_an_unreachable_database_is_a_storage_error(cluster: Cluster) -> None:
    with pytest.raises(rewind.StorageError, match="cannot connect") as e:
        rewind.Store.postgres(
            "host=127.0.0.1 port=1 dbname=x user=x password=hunter2 connect_timeout=3"
        )
    assert "hunter2" not in str(e.value)
