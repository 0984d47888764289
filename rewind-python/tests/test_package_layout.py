"""The modules of the installed package: every one importable first, in a
fresh interpreter; no import cycle among them; the classes of
`rewind.server.eventstores` at their original paths; and the wheel holding
every module of the source tree."""

from __future__ import annotations

import ast
import importlib
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Set

import pytest

import rewind
from rewind.server import config as rconfig
from rewind.server import eventstores

INSTALLED = Path(rewind.__file__).parent
SOURCE = Path(__file__).resolve().parent.parent / "python" / "rewind"

# Import graph of a package, from its source files.


def package_modules(root: Path, package: str) -> Dict[str, Optional[Path]]:
    """Every module under `root` (the directory of package `package`): its
    dotted name, and its source file (None for an extension module)."""
    modules: Dict[str, Optional[Path]] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if "__pycache__" in rel.parts or not path.is_file():
            continue
        parts = [package] + list(rel.parts[:-1])
        stem = path.name.split(".", 1)[0]
        if path.suffix == ".py":
            if stem != "__init__":
                parts.append(stem)
            modules[".".join(parts)] = path
        elif path.suffix in (".so", ".pyd"):
            modules[".".join(parts + [stem])] = None
    return modules


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _resolve(module: str, is_package: bool, target: Optional[str], level: int) -> str:
    if level == 0:
        assert target is not None
        return target
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports_of(module: str, path: Path, known: Set[str]) -> Set[str]:
    """The modules `module` imports, anywhere in the file (functions too).
    `from X import name` imports module X.name when there is one, else X."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    targets: Set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, _is_package(path), node.module, node.level)
            for alias in node.names:
                sub = base + "." + alias.name
                targets.add(sub if sub in known else base)
    return targets


def _ancestors(module: str) -> List[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def import_graph(modules: Dict[str, Optional[Path]]) -> Dict[str, Set[str]]:
    """Module -> the modules of the package its import statements run.

    Importing `a.b.c` runs `a` and `a.b` first, so those are edges too,
    except when they are packages of the importing module itself (already
    being imported when it runs: the usual package-imports-its-modules
    pattern). A module named by an import statement is always an edge."""
    known = set(modules)
    graph: Dict[str, Set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        if path is None:
            continue
        own = set(_ancestors(name))
        for target in imports_of(name, path, known):
            if target in known and target != name:
                graph[name].add(target)
            for parent in _ancestors(target):
                if parent in known and parent != name and parent not in own:
                    graph[name].add(parent)
    return graph


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    """A cycle of the graph (its modules, the first repeated at the end), or None."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> Optional[List[str]]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _write_package(root: Path, files: Dict[str, str]) -> Dict[str, Optional[Path]]:
    for rel, text in files.items():
        path = root / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package_modules(root / "pkg", "pkg")


def test_the_cycle_finder_finds_cycles(tmp_path: Path) -> None:
    # Two modules that import each other, one of them inside a function.
    direct = _write_package(
        tmp_path / "direct",
        {
            "__init__.py": "",
            "config.py": "def f():\n    from pkg.stores import Memory\n",
            "stores.py": "from pkg import config as rconfig\n",
        },
    )
    assert find_cycle(import_graph(direct)) is not None
    # Through a package: config imports a module of `stores`, whose
    # __init__ imports `synced`, which imports config.
    via_parent = _write_package(
        tmp_path / "parent",
        {
            "__init__.py": "",
            "config.py": "from pkg.stores.memory import Memory\n",
            "stores/__init__.py": "from pkg.stores.memory import Memory\n"
            "from pkg.stores.synced import Synced\n",
            "stores/memory.py": "class Memory: pass\n",
            "stores/synced.py": "from .. import config\n",
        },
    )
    cycle = find_cycle(import_graph(via_parent))
    assert cycle is not None and "pkg.config" in cycle and "pkg.stores" in cycle
    # A package importing its own modules, which use each other: no cycle.
    fine = _write_package(
        tmp_path / "fine",
        {
            "__init__.py": "",
            "config.py": "from pkg.stores import Memory\nfrom pkg import base\n",
            "base.py": "",
            "stores/__init__.py": "from pkg.stores.memory import Memory\n",
            "stores/memory.py": "from pkg.base import *\nfrom . import util\n",
            "stores/util.py": "import pkg.base\n",
        },
    )
    graph = import_graph(fine)
    assert find_cycle(graph) is None
    assert graph["pkg.stores.memory"] == {"pkg.base", "pkg.stores.util"}
    assert graph["pkg.config"] == {"pkg.stores", "pkg.base"}


def test_the_package_has_no_import_cycle() -> None:
    modules = package_modules(INSTALLED, "rewind")
    graph = import_graph(modules)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])
    assert "rewind.server.eventstores.synced" in graph
    assert "rewind.server.eventstores" in graph["rewind.server.config"]
    # No store module depends on the public configuration module.
    for name, targets in graph.items():
        if name.startswith("rewind.server.eventstores"):
            assert "rewind.server.config" not in targets, name


def _import_in_fresh_interpreter(*names: str) -> subprocess.CompletedProcess:
    script = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        "from rewind.server import config, eventstores\n"
        "store = config.construct_eventstore(None)\n"
        "assert isinstance(store, eventstores.InMemoryEventStore)\n"
        "assert eventstores.SQLiteEventStore.add_event\n"
        "print('ok')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script] + list(names),
        capture_output=True,
        text=True,
        cwd=str(INSTALLED.parent),
        timeout=60,
    )


@pytest.mark.parametrize(
    "order",
    [
        ["rewind.server.config", "rewind.server.eventstores"],
        ["rewind.server.eventstores", "rewind.server.config"],
    ],
)
def test_config_and_eventstores_import_in_either_order(order: List[str]) -> None:
    done = _import_in_fresh_interpreter(*order)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize(
    "name", sorted(n for n, p in package_modules(INSTALLED, "rewind").items() if p is not None)
)
def test_every_module_can_be_imported_first(name: str) -> None:
    done = _import_in_fresh_interpreter(name, "rewind.server.config")
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_the_wheel_holds_every_module_of_the_source() -> None:
    assert SOURCE.is_dir()
    assert INSTALLED != SOURCE  # the tests run against the installed wheel

    def sources(root: Path) -> Set[str]:
        return {
            p.relative_to(root).as_posix()
            for p in root.rglob("*")
            if p.suffix in (".py", ".pyi", ".typed") and "__pycache__" not in p.parts
        }

    assert sources(SOURCE) <= sources(INSTALLED)
    assert "server/eventstores/__init__.py" in sources(INSTALLED)
    assert hasattr(eventstores, "__path__")  # a package


PUBLIC_CLASSES = [
    "EventStoreError",
    "EventOrderError",
    "CorruptionError",
    "EventStore",
    "InMemoryEventStore",
    "SQLiteEventStore",
    "LogEventStore",
    "RotatedEventStore",
    "SyncedRotationEventStores",
    "LMDBEventStore",
    "PostgresEventStore",
]


@pytest.mark.parametrize("name", PUBLIC_CLASSES)
def test_classes_keep_their_original_path(name: str) -> None:
    cls = getattr(eventstores, name)
    assert cls.__module__ == "rewind.server.eventstores"
    assert cls.__qualname__ == name
    assert rconfig._load_class("rewind.server.eventstores." + name) is cls
    assert repr(cls) == "<class 'rewind.server.eventstores.{0}'>".format(name)
    assert pickle.loads(pickle.dumps(cls)) is cls


def test_nested_errors_and_configuration_error_pickle() -> None:
    for cls in (
        eventstores.EventStore.EventKeyAlreadyExistError,
        eventstores.EventStore.EventKeyDoesNotExistError,
    ):
        assert cls.__module__ == "rewind.server.eventstores"
        error = pickle.loads(pickle.dumps(cls("key-1")))
        assert type(error) is cls and error.args == ("key-1",)
    assert rconfig.ConfigurationError.__module__ == "rewind.server.config"
    error = pickle.loads(pickle.dumps(rconfig.ConfigurationError("bad")))
    assert type(error) is rconfig.ConfigurationError and error.what == "bad"


def test_the_modules_of_the_package_hold_the_classes() -> None:
    modules = {
        "base": ["EventStore", "EventStoreError", "EventOrderError", "CorruptionError"],
        "native": ["InMemoryEventStore", "LMDBEventStore", "PostgresEventStore"],
        "sqlite": ["SQLiteEventStore"],
        "logfile": ["LogEventStore"],
        "rotated": ["RotatedEventStore"],
        "synced": ["SyncedRotationEventStores"],
    }
    for module, names in modules.items():
        mod = importlib.import_module("rewind.server.eventstores." + module)
        for name in names:
            assert getattr(mod, name) is getattr(eventstores, name)
    assert set(PUBLIC_CLASSES) <= set(eventstores.__all__)
    assert os.path.basename(eventstores.__file__ or "") == "__init__.py"
