"""rewind.server.config: construct_eventstore, check_config_options and
ConfigurationError, and each store's from_config."""

from __future__ import annotations

import configparser
import logging
import os
from pathlib import Path

import pytest

import userstore
from rewind.server import config as rconfig
from rewind.server import eventstores


def make(sections: dict) -> configparser.ConfigParser:
    c = configparser.ConfigParser()
    c.read_dict(sections)
    return c


def test_default_section_name() -> None:
    assert rconfig.DEFAULT_SECTION == "general"


def test_configuration_error_keeps_what() -> None:
    err = rconfig.ConfigurationError("Bad string")
    assert err.what == "Bad string"
    assert str(err) == "'Bad string'"
    assert isinstance(err, Exception)


def test_no_config_is_an_in_memory_store(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        estore = rconfig.construct_eventstore(None)
    assert isinstance(estore, eventstores.InMemoryEventStore)
    assert "InMemoryEventStore" in caplog.text


def test_no_storage_backend_is_an_in_memory_store() -> None:
    estore = rconfig.construct_eventstore(make({"general": {}}))
    assert isinstance(estore, eventstores.InMemoryEventStore)


def test_missing_default_section() -> None:
    with pytest.raises(rconfig.ConfigurationError):
        rconfig.construct_eventstore(configparser.ConfigParser())


def test_missing_store_section() -> None:
    with pytest.raises(rconfig.ConfigurationError):
        rconfig.construct_eventstore(make({"general": {"storage-backend": "nonexistsection"}}))


def test_missing_given_section() -> None:
    with pytest.raises(rconfig.ConfigurationError):
        rconfig.construct_eventstore(configparser.ConfigParser(), "nonexistsection")


def test_missing_class() -> None:
    config = make({"general": {"storage-backend": "s"}, "s": {}})
    with pytest.raises(rconfig.ConfigurationError) as info:
        rconfig.construct_eventstore(config)
    assert "class" in str(info.value)


def test_class_that_cannot_be_imported() -> None:
    config = make({"s": {"class": "no_such_module_here.Store"}})
    with pytest.raises(rconfig.ConfigurationError) as info:
        rconfig.construct_eventstore(config, "s")
    assert isinstance(info.value, ImportError)
    config = make({"s": {"class": "rewind.server.eventstores.NoSuchStore"}})
    with pytest.raises(AttributeError):
        rconfig.construct_eventstore(config, "s")
    config = make({"s": {"class": "NoDots"}})
    with pytest.raises(rconfig.ConfigurationError):
        rconfig.construct_eventstore(config, "s")


def test_creating_in_memory_store_from_config() -> None:
    config = make(
        {
            "general": {"storage-backend": "estoresection"},
            "estoresection": {"class": "rewind.server.eventstores.InMemoryEventStore"},
        }
    )
    assert isinstance(rconfig.construct_eventstore(config), eventstores.InMemoryEventStore)


def test_given_section_needs_no_general() -> None:
    config = make({"estoresection": {"class": "rewind.server.eventstores.InMemoryEventStore"}})
    estore = rconfig.construct_eventstore(config, "estoresection")
    assert isinstance(estore, eventstores.InMemoryEventStore)


def test_check_config_options(caplog: pytest.LogCaptureFixture) -> None:
    rconfig.check_config_options("X", ("path",), ("opt",), {"path": "p", "opt": "o"})
    with pytest.raises(rconfig.ConfigurationError) as info:
        rconfig.check_config_options("X", ("path",), (), {"other": "1"})
    assert info.value.what == "Required option missing: path"
    with caplog.at_level(logging.WARNING):
        rconfig.check_config_options("X", ("path",), (), {"path": "p", "surprise": "1"})
    assert "surprise" in caplog.text
    # Lists work as well as tuples, and any iterable of names as options.
    rconfig.check_config_options("X", ["a"], ["b"], ["a", "b"])


@pytest.mark.parametrize(
    "cls, options, expected",
    [
        ("SQLiteEventStore", {"path": "{tmp}/db.sqlite"}, eventstores.SQLiteEventStore),
        ("LogEventStore", {"path": "{tmp}/log"}, eventstores.LogEventStore),
        ("LMDBEventStore", {"path": "{tmp}/lmdb"}, eventstores.LMDBEventStore),
        (
            "LMDBEventStore",
            {"path": "{tmp}/lmdb", "map-size-limit": "1G", "initial-map-size": "1M"},
            eventstores.LMDBEventStore,
        ),
        (
            "RotatedEventStore",
            {
                "realclass": "rewind.server.eventstores.SQLiteEventStore",
                "path": "{tmp}/rot",
                "prefix": "sqlite",
            },
            eventstores.RotatedEventStore,
        ),
    ],
)
def test_from_config_of_each_store(cls: str, options: dict, expected: type, tmp_path: Path) -> None:
    section = {"class": "rewind.server.eventstores." + cls}
    section.update({k: v.format(tmp=tmp_path) for k, v in options.items()})
    estore = rconfig.construct_eventstore(make({"s": section}), "s")
    assert type(estore) is expected
    estore.add_event("a", b"1")
    assert list(estore.get_events()) == [("a", b"1")]
    estore.close()


@pytest.mark.parametrize(
    "cls", ["SQLiteEventStore", "LogEventStore", "LMDBEventStore", "RotatedEventStore"]
)
def test_from_config_without_path_fails_before_creating_files(cls: str, tmp_path: Path) -> None:
    config = make({"s": {"class": "rewind.server.eventstores." + cls, "prefix": "p"}})
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(rconfig.ConfigurationError) as info:
            rconfig.construct_eventstore(config, "s")
    finally:
        os.chdir(cwd)
    assert "Could not instantiate" in info.value.what
    assert os.listdir(tmp_path) == []


def test_lmdb_from_config_rejects_bad_sizes(tmp_path: Path) -> None:
    config = make(
        {
            "s": {
                "class": "rewind.server.eventstores.LMDBEventStore",
                "path": str(tmp_path / "x"),
                "map-size-limit": "lots",
            }
        }
    )
    with pytest.raises(rconfig.ConfigurationError):
        rconfig.construct_eventstore(config, "s")


def test_in_memory_from_config_warns_about_options(caplog: pytest.LogCaptureFixture) -> None:
    config = make({"s": {"class": "rewind.server.eventstores.InMemoryEventStore", "path": "x"}})
    with caplog.at_level(logging.WARNING):
        rconfig.construct_eventstore(config, "s")
    assert "path" in caplog.text


def test_synced_rotation_from_config(tmp_path: Path) -> None:
    # The original's example configuration, with the current module path.
    config = make(
        {
            "general": {"storage-backend": "synced_rotator"},
            "rotated_sqlite": {
                "class": "rewind.server.eventstores.RotatedEventStore",
                "realclass": "rewind.server.eventstores.SQLiteEventStore",
                "prefix": "sqlite",
                "path": str(tmp_path / "db"),
            },
            "rotated_appendlog": {
                "class": "rewind.server.eventstores.RotatedEventStore",
                "realclass": "rewind.server.eventstores.LogEventStore",
                "prefix": "appendlog",
                "path": str(tmp_path / "log"),
            },
            "synced_rotator": {
                "class": "rewind.server.eventstores.SyncedRotationEventStores",
                "storage-backends": "rotated_sqlite rotated_appendlog",
                "events_per_batch": "3",
            },
        }
    )
    estore = rconfig.construct_eventstore(config)
    assert isinstance(estore, eventstores.SyncedRotationEventStores)
    assert estore.events_per_batch == 3 and len(estore.stores) == 2
    for i in range(7):
        estore.add_event("k{0}".format(i), b"x")
    estore.close()
    assert sorted(os.listdir(tmp_path / "log")) == [
        "appendlog.0",
        "appendlog.1",
        "appendlog.2",
        "checksums.md5",
    ]


@pytest.mark.parametrize("value", ["many", "0"])
def test_synced_rotation_bad_batch_size(value: str) -> None:
    config = make(
        {
            "s": {
                "class": "rewind.server.eventstores.SyncedRotationEventStores",
                "storage-backends": "x",
                "events_per_batch": value,
            }
        }
    )
    with pytest.raises(rconfig.ConfigurationError):
        rconfig.construct_eventstore(config, "s")


def test_synced_rotation_with_a_broken_backend_section() -> None:
    config = make(
        {
            "s": {
                "class": "rewind.server.eventstores.SyncedRotationEventStores",
                "storage-backends": "missing",
            }
        }
    )
    with pytest.raises(rconfig.ConfigurationError):
        rconfig.construct_eventstore(config, "s")
    config = make(
        {"s": {"class": "rewind.server.eventstores.SyncedRotationEventStores"}}
    )
    with pytest.raises(rconfig.ConfigurationError):
        rconfig.construct_eventstore(config, "s")


def test_a_users_class() -> None:
    config = make({"u": {"class": "userstore.ListEventStore", "label": "mine", "preload": "2"}})
    estore = rconfig.construct_eventstore(config, "u")
    assert isinstance(estore, userstore.ListEventStore)
    assert estore.label == "mine" and len(estore.events) == 2
    with pytest.raises(rconfig.ConfigurationError):
        rconfig.construct_eventstore(make({"u": {"class": "userstore.ListEventStore"}}), "u")
