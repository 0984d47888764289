"""The eventsourcing library's own test cases (unmodified, subclassed) run
against `rewind.eventsourcing`, over an LMDB store, an in-memory store and
a server process (a `rewind.Client`; a fresh server per test, as the cases
expect an empty log) and a PostgreSQL database (a fresh one per test, on a
throwaway cluster the module starts), plus a few tests of what is Rewind's own: the stored form of the records
and the atomicity of a process's events with its tracking record."""

import os
import shutil
import tempfile
from typing import Any, Dict, Optional
from uuid import uuid4

import pytest

pytest.importorskip("eventsourcing")

from eventsourcing.persistence import (  # noqa: E402
    IntegrityError,
    StoredEvent,
    Tracking,
)
# The modules, not their classes: pytest would collect the stock test
# cases themselves (without Rewind's settings) if they were names here.
from eventsourcing.tests import application as stock_app  # noqa: E402
from eventsourcing.tests import persistence as stock  # noqa: E402
from eventsourcing.utils import Environment, get_topic  # noqa: E402

import rewind  # noqa: E402
from pgcluster import Cluster  # noqa: E402
from serverproc import ServerProcess, curve_flags  # noqa: E402
from rewind.eventsourcing import (  # noqa: E402
    Factory,
    RewindAggregateRecorder,
    RewindApplicationRecorder,
    RewindProcessRecorder,
    RewindTrackingRecorder,
)

# test_application_log records the DeprecationWarning it provokes, which
# the suite's "error" filter would otherwise raise.
pytestmark = pytest.mark.filterwarnings("default::DeprecationWarning")

SETTINGS = (
    "PERSISTENCE_MODULE",
    "REWIND_PATH",
    "REWIND_IN_MEMORY",
    "REWIND_ENDPOINT",
    "REWIND_POSTGRES",
    "IS_SNAPSHOTTING_ENABLED",
)


class _Lmdb:
    """A fresh LMDB store per test."""

    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="rewind-es-")
        self.store = rewind.Store(os.path.join(self.tmp, "db"))
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        super().tearDown()  # type: ignore[misc]
        self.store.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class _Memory:
    def setUp(self) -> None:
        self.store = rewind.Store.in_memory()
        super().setUp()  # type: ignore[misc]


class _Remote:
    """A fresh server process per test, and a client of it."""

    def setUp(self) -> None:
        self.server = ServerProcess()
        self.store = rewind.Client(self.server.endpoint)
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        super().tearDown()  # type: ignore[misc]
        self.store.close()
        self.server.close()


class _PgCluster:
    """The module's PostgreSQL cluster, started by the first test that needs
    it and stopped when the tests end."""

    cluster: Optional[Cluster] = None

    @classmethod
    def new_dsn(cls) -> str:
        if _PgCluster.cluster is None:
            _PgCluster.cluster = Cluster()
        c = _PgCluster.cluster
        return c.dsn(c.new_database())


@pytest.fixture(scope="module", autouse=True)
def _stop_pg_cluster() -> Any:
    yield
    if _PgCluster.cluster is not None:
        _PgCluster.cluster.stop()
        _PgCluster.cluster = None


class _Postgres:
    """A fresh PostgreSQL database per test, and a store on it."""

    def setUp(self) -> None:
        self.store = rewind.Store.postgres(_PgCluster.new_dsn())
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        super().tearDown()  # type: ignore[misc]
        self.store.close()


class LmdbAggregateRecorder(_Lmdb, stock.AggregateRecorderTestCase):
    def create_recorder(self) -> RewindAggregateRecorder:
        return RewindAggregateRecorder(self.store, "app", "snapshots")


class MemoryAggregateRecorder(_Memory, stock.AggregateRecorderTestCase):
    def create_recorder(self) -> RewindAggregateRecorder:
        return RewindAggregateRecorder(self.store)


class LmdbApplicationRecorder(_Lmdb, stock.ApplicationRecorderTestCase[RewindApplicationRecorder]):
    def create_recorder(self) -> RewindApplicationRecorder:
        return RewindApplicationRecorder(self.store, "app")

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class MemoryApplicationRecorder(_Memory, stock.ApplicationRecorderTestCase[RewindApplicationRecorder]):
    def create_recorder(self) -> RewindApplicationRecorder:
        return RewindApplicationRecorder(self.store)

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class LmdbTrackingRecorder(_Lmdb, stock.TrackingRecorderTestCase):
    def create_recorder(self) -> RewindTrackingRecorder:
        return RewindTrackingRecorder(self.store, "app")


class MemoryTrackingRecorder(_Memory, stock.TrackingRecorderTestCase):
    def create_recorder(self) -> RewindTrackingRecorder:
        return RewindTrackingRecorder(self.store)


class LmdbProcessRecorder(_Lmdb, stock.ProcessRecorderTestCase):
    def create_recorder(self) -> RewindProcessRecorder:
        return RewindProcessRecorder(self.store, "app")


class MemoryProcessRecorder(_Memory, stock.ProcessRecorderTestCase):
    def create_recorder(self) -> RewindProcessRecorder:
        return RewindProcessRecorder(self.store)


class LmdbNonInterleaving(_Lmdb, stock.NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> RewindApplicationRecorder:
        return RewindApplicationRecorder(self.store, "app")


class MemoryNonInterleaving(_Memory, stock.NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> RewindApplicationRecorder:
        return RewindApplicationRecorder(self.store)


class RemoteAggregateRecorder(_Remote, stock.AggregateRecorderTestCase):
    def create_recorder(self) -> RewindAggregateRecorder:
        return RewindAggregateRecorder(self.store, "app", "snapshots")


class RemoteApplicationRecorder(_Remote, stock.ApplicationRecorderTestCase[RewindApplicationRecorder]):
    def create_recorder(self) -> RewindApplicationRecorder:
        return RewindApplicationRecorder(self.store, "app")

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class RemoteTrackingRecorder(_Remote, stock.TrackingRecorderTestCase):
    def create_recorder(self) -> RewindTrackingRecorder:
        return RewindTrackingRecorder(self.store, "app")


class RemoteProcessRecorder(_Remote, stock.ProcessRecorderTestCase):
    def create_recorder(self) -> RewindProcessRecorder:
        return RewindProcessRecorder(self.store, "app")


class RemoteNonInterleaving(_Remote, stock.NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> RewindApplicationRecorder:
        return RewindApplicationRecorder(self.store, "app")


class PostgresAggregateRecorder(_Postgres, stock.AggregateRecorderTestCase):
    def create_recorder(self) -> RewindAggregateRecorder:
        return RewindAggregateRecorder(self.store, "app", "snapshots")


class PostgresApplicationRecorder(_Postgres, stock.ApplicationRecorderTestCase[RewindApplicationRecorder]):
    def create_recorder(self) -> RewindApplicationRecorder:
        return RewindApplicationRecorder(self.store, "app")

    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class PostgresTrackingRecorder(_Postgres, stock.TrackingRecorderTestCase):
    def create_recorder(self) -> RewindTrackingRecorder:
        return RewindTrackingRecorder(self.store, "app")


class PostgresProcessRecorder(_Postgres, stock.ProcessRecorderTestCase):
    def create_recorder(self) -> RewindProcessRecorder:
        return RewindProcessRecorder(self.store, "app")


class PostgresNonInterleaving(_Postgres, stock.NonInterleavingNotificationIDsBaseCase):
    def create_recorder(self) -> RewindApplicationRecorder:
        return RewindApplicationRecorder(self.store, "app")


class TrackingRecorderSubclass(RewindTrackingRecorder):
    pass


class _FactoryClasses:
    """What the factory test cases expect (a mixin: not a test case itself)."""

    def expected_factory_class(self) -> Any:
        return Factory

    def expected_aggregate_recorder_class(self) -> Any:
        return RewindAggregateRecorder

    def expected_application_recorder_class(self) -> Any:
        return RewindApplicationRecorder

    def expected_tracking_recorder_class(self) -> Any:
        return RewindTrackingRecorder

    def tracking_recorder_subclass(self) -> Any:
        return TrackingRecorderSubclass

    def expected_process_recorder_class(self) -> Any:
        return RewindProcessRecorder


class LmdbFactory(_FactoryClasses, stock.InfrastructureFactoryTestCase[Factory]):
    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="rewind-es-")
        self.env = Environment("TestCase")
        self.env[Factory.PERSISTENCE_MODULE] = "rewind.eventsourcing"
        self.env[Factory.REWIND_PATH] = os.path.join(self.tmp, "db")
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        shutil.rmtree(self.tmp, ignore_errors=True)


class MemoryFactory(_FactoryClasses, stock.InfrastructureFactoryTestCase[Factory]):
    def setUp(self) -> None:
        self.env = Environment("TestCase")
        self.env[Factory.PERSISTENCE_MODULE] = "rewind.eventsourcing"
        self.env[Factory.REWIND_IN_MEMORY] = "y"
        super().setUp()


class RemoteFactory(_FactoryClasses, stock.InfrastructureFactoryTestCase[Factory]):
    def setUp(self) -> None:
        self.server = ServerProcess()
        self.env = Environment("TestCase")
        self.env[Factory.PERSISTENCE_MODULE] = "rewind.eventsourcing"
        self.env[Factory.REWIND_ENDPOINT] = self.server.endpoint
        super().setUp()

    def tearDown(self) -> None:
        super().tearDown()
        self.server.close()


class PostgresFactory(_FactoryClasses, stock.InfrastructureFactoryTestCase[Factory]):
    def setUp(self) -> None:
        self.env = Environment("TestCase")
        self.env[Factory.PERSISTENCE_MODULE] = "rewind.eventsourcing"
        self.env[Factory.REWIND_POSTGRES] = _PgCluster.new_dsn()
        super().setUp()


class _OsEnviron:
    """Settings in os.environ for the test (as the library's own test
    modules set them), restored afterwards."""

    settings: Dict[str, str] = {}

    def setUp(self) -> None:
        self.saved: Dict[str, Optional[str]] = {k: os.environ.get(k) for k in SETTINGS}
        self.tmp = tempfile.mkdtemp(prefix="rewind-es-")
        self.server: Optional[ServerProcess] = None
        if any("{endpoint}" in v for v in self.settings.values()):
            self.server = ServerProcess()
        endpoint = self.server.endpoint if self.server else ""
        dsn = _PgCluster.new_dsn() if any("{dsn}" in v for v in self.settings.values()) else ""
        for k, v in self.settings.items():
            os.environ[k] = v.replace("{tmp}", self.tmp).replace("{endpoint}", endpoint).replace("{dsn}", dsn)
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        super().tearDown()  # type: ignore[misc]
        if self.server is not None:
            self.server.close()
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(self.tmp, ignore_errors=True)


LMDB_SETTINGS = {"PERSISTENCE_MODULE": "rewind.eventsourcing", "REWIND_PATH": "{tmp}/db"}
MEMORY_SETTINGS = {"PERSISTENCE_MODULE": "rewind.eventsourcing", "REWIND_IN_MEMORY": "y"}
REMOTE_SETTINGS = {"PERSISTENCE_MODULE": "rewind.eventsourcing", "REWIND_ENDPOINT": "{endpoint}"}
POSTGRES_SETTINGS = {"PERSISTENCE_MODULE": "rewind.eventsourcing", "REWIND_POSTGRES": "{dsn}"}


class LmdbExampleApplication(_OsEnviron, stock_app.ExampleApplicationTestCase):
    settings = LMDB_SETTINGS
    expected_factory_topic = get_topic(Factory)


class MemoryExampleApplication(_OsEnviron, stock_app.ExampleApplicationTestCase):
    settings = MEMORY_SETTINGS
    expected_factory_topic = get_topic(Factory)


class LmdbApplication(_OsEnviron, stock_app.ApplicationTestCase):
    settings = LMDB_SETTINGS


class MemoryApplication(_OsEnviron, stock_app.ApplicationTestCase):
    settings = MEMORY_SETTINGS


class RemoteExampleApplication(_OsEnviron, stock_app.ExampleApplicationTestCase):
    settings = REMOTE_SETTINGS
    expected_factory_topic = get_topic(Factory)


class RemoteApplication(_OsEnviron, stock_app.ApplicationTestCase):
    settings = REMOTE_SETTINGS


class PostgresExampleApplication(_OsEnviron, stock_app.ExampleApplicationTestCase):
    settings = POSTGRES_SETTINGS
    expected_factory_topic = get_topic(Factory)


class PostgresApplication(_OsEnviron, stock_app.ApplicationTestCase):
    settings = POSTGRES_SETTINGS


# Rewind's own tests of the mapping.


def _event(originator_id: Any, version: int, topic: str = "t") -> StoredEvent:
    return StoredEvent(originator_id=originator_id, originator_version=version, topic=topic, state=b"{}")


def test_stored_form_of_events_and_sparse_versions() -> None:
    store = rewind.Store.in_memory()
    snapshots = RewindAggregateRecorder(store, "Bank", "snapshots")
    oid = uuid4()
    snapshots.insert_events([_event(oid, 5, "Snap"), _event(oid, 12, "Snap")])
    events = store.read_stream(f"Bank/snapshots/{oid}")
    assert [(e.version, e.metadata, e.type) for e in events] == [(0, b"uuid:5", "Snap"), (1, b"uuid:12", "Snap")]
    assert [s.originator_version for s in snapshots.select_events(oid, lte=11, desc=True, limit=1)] == [5]
    assert [s.originator_version for s in snapshots.select_events(oid, gt=5)] == [12]
    assert snapshots.select_events(oid, lte=4) == []
    # A version below the last one, never stored, is refused too.
    with pytest.raises(IntegrityError):
        snapshots.insert_events([_event(oid, 7)])
    # A str originator id comes back as a str.
    snapshots.insert_events([_event("account-1", 0)])
    [s] = snapshots.select_events("account-1")
    assert s.originator_id == "account-1"


def test_one_append_per_insert_and_a_conflict_stores_nothing() -> None:
    store = rewind.Store.in_memory()
    recorder = RewindApplicationRecorder(store, "App")
    a, b = uuid4(), uuid4()
    ids = recorder.insert_events([_event(a, 1), _event(b, 1), _event(a, 2)])
    # Grouped per aggregate in one commit; the ids follow the events given.
    assert ids == [1, 3, 2]
    with pytest.raises(IntegrityError):
        recorder.insert_events([_event(b, 2), _event(a, 2)])
    assert store.next_position() == 3
    assert recorder.select_events(b) == [_event(b, 1)]


def test_process_events_and_tracking_are_one_commit() -> None:
    store = rewind.Store.in_memory()
    recorder = RewindProcessRecorder(store, "Proc")
    oid = uuid4()
    [nid] = recorder.insert_events([_event(oid, 1)], tracking=Tracking("Upstream", 7))
    assert nid == 1
    tracking = store.read_stream("Proc/tracking/Upstream")
    assert [(e.id, e.type, e.metadata, e.position) for e in tracking] == [
        (b"Proc/tracking/Upstream#7", "eventsourcing.Tracking", b"7", 1)
    ]
    # The tracking record is refused: the new events are not stored either.
    with pytest.raises(IntegrityError):
        recorder.insert_events([_event(oid, 2)], tracking=Tracking("Upstream", 7))
    assert recorder.select_events(oid) == [_event(oid, 1)]
    assert recorder.max_tracking_id("Upstream") == 7
    # Tracking records are not notifications.
    assert [n.id for n in recorder.select_notifications(None, 10)] == [1]
    assert recorder.max_notification_id() == 1


def test_factory_needs_a_store_setting() -> None:
    with pytest.raises(OSError):
        Factory(Environment("X", {"PERSISTENCE_MODULE": "rewind.eventsourcing"}))


def test_factories_naming_one_directory_share_its_store(tmp_path: Any) -> None:
    env = {"PERSISTENCE_MODULE": "rewind.eventsourcing", "REWIND_PATH": str(tmp_path / "db")}
    f1 = Factory(Environment("A", env))
    f2 = Factory(Environment("B", env))
    assert f1.store is f2.store
    a = f1.application_recorder()
    b = f2.application_recorder()
    a.insert_events([_event(uuid4(), 1)])
    b.insert_events([_event(uuid4(), 1)])
    # Each application sees its own notifications, ids from the shared log.
    assert [n.id for n in a.select_notifications(None, 10)] == [1]
    assert [n.id for n in b.select_notifications(None, 10)] == [2]
    f1.close()
    f2.close()
    with pytest.raises(rewind.ClosedError):
        a.insert_events([_event(uuid4(), 1)])


def test_factory_talks_to_a_server_with_the_curve_keys_of_its_settings() -> None:
    server_public, server_secret = rewind.curve_keypair()
    public, secret = rewind.curve_keypair()
    server = ServerProcess(extra=curve_flags(server_public, server_secret, public))
    try:
        env = {
            "PERSISTENCE_MODULE": "rewind.eventsourcing",
            "REWIND_ENDPOINT": server.endpoint,
            "REWIND_SERVER_PUBLIC_KEY": server_public,
            "REWIND_PUBLIC_KEY": public,
            "REWIND_SECRET_KEY": secret,
        }
        factory = Factory(Environment("Curved", env))
        assert isinstance(factory.store, rewind.Client)
        recorder = factory.application_recorder()
        oid = uuid4()
        assert recorder.insert_events([_event(oid, 1)]) == [1]
        assert recorder.select_events(oid) == [_event(oid, 1)]
        factory.close()
        # The factory's client is closed with it.
        with pytest.raises(rewind.ClosedError):
            recorder.insert_events([_event(oid, 2)])
    finally:
        server.close()
