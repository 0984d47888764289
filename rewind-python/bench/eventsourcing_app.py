"""Benchmark of the eventsourcing library's example application on
`rewind.eventsourcing`, beside the library's own POPO and SQLite (file)
persistence modules, in the same process and the same run.

The application is `BankAccounts` from ``eventsourcing.tests.application``
(the example application the library's own test suite runs on every
persistence module). For each persistence setting,

* POPO: ``PERSISTENCE_MODULE=eventsourcing.popo`` (in memory),
* SQLite file: ``PERSISTENCE_MODULE=eventsourcing.sqlite`` with
  ``SQLITE_DBNAME`` a new file,
* Rewind LMDB: ``PERSISTENCE_MODULE=rewind.eventsourcing`` with
  ``REWIND_PATH`` a new directory,
* Rewind in memory: ``PERSISTENCE_MODULE=rewind.eventsourcing`` with
  ``REWIND_IN_MEMORY=y``,

a new application on a new, empty store runs these workloads, each timed:

1. open N accounts (`open_account`: one new aggregate saved per command);
2. M deposits (`credit_account`, spread round-robin over the accounts: get
   the aggregate by id, append a transaction, save it);
3. get every account by id (`get_account`: the repository replays the
   account's events);
4. read the whole notification log through the application's
   `notification_log` sections (10 notifications each, following each
   section's ``next_id``);
5. read the whole notification log through the recorder's
   `select_notifications`, in pages of 1000.

Every workload's result is checked (balances, notification counts), so a
setting that loses or duplicates records fails instead of looking fast.

The settings are interleaved: each repetition runs every setting in turn
(after one untimed warm-up round), and the table gives the median rate of
each workload over the repetitions, with the ratio Rewind LMDB ÷ SQLite
file as the median of the per-repetition ratios.

Run it with the virtual environment that ``rewind-python/run-tests.sh``
builds (for figures worth publishing, build that with
``REWIND_PY_PROFILE=release``)::

    target/py-venv/bin/python rewind-python/bench/eventsourcing_app.py          # ~1.5 min
    target/py-venv/bin/python rewind-python/bench/eventsourcing_app.py --quick  # < 30 s

Options: ``--reps R`` (default 5, 3 with --quick), ``--accounts N``
(default 2000, 500 with --quick), ``--deposits M`` (default 8000, 1500 with
--quick), ``--dir D`` (where the SQLite files and LMDB directories go;
default the system's temporary directory: put it on the disk you want to
measure, since fsync on a tmpfs costs nothing).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from importlib.metadata import version as dist_version

from eventsourcing.tests.application import BankAccounts

SETTINGS = ("POPO", "SQLite file", "Rewind LMDB", "Rewind in memory")
RATIO = ("Rewind LMDB", "SQLite file")
WORKLOADS = (
    ("open", "open account (1 new aggregate saved per command)", "commands/s"),
    ("deposit", "deposit (get account by id, append, save)", "commands/s"),
    ("get", "get account by id (replay its events)", "aggregates/s"),
    ("log10", "notification log, sections of 10 (`notification_log[...]`)", "notifications/s"),
    ("log1000", "notification log, pages of 1000 (`select_notifications`)", "notifications/s"),
)
PAGE = 1000
SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def env_for(setting: str, workdir: str) -> dict[str, str]:
    """The application's environment for one setting, on new storage under
    `workdir`."""
    if setting == "POPO":
        return {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    if setting == "SQLite file":
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": os.path.join(workdir, "bank.sqlite"),
        }
    if setting == "Rewind LMDB":
        return {
            "PERSISTENCE_MODULE": "rewind.eventsourcing",
            "REWIND_PATH": os.path.join(workdir, "rewind"),
            "REWIND_IN_MEMORY": "n",
        }
    if setting == "Rewind in memory":
        return {"PERSISTENCE_MODULE": "rewind.eventsourcing", "REWIND_IN_MEMORY": "y"}
    raise ValueError(setting)


def sqlite_settings(app: BankAccounts) -> tuple[str, int]:
    """The journal mode and `synchronous` level on the application's own
    SQLite connection (eventsourcing.sqlite sets WAL and leaves
    `synchronous` at SQLite's default)."""
    with app.recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        cursor.execute("PRAGMA journal_mode")
        journal = str(cursor.fetchone()[0])
        cursor.execute("PRAGMA synchronous")
        synchronous = int(cursor.fetchone()[0])
    return journal, synchronous


def run_once(setting: str, base: str, accounts: int, deposits: int, info: dict) -> dict[str, float]:
    """One application on new storage: every workload once, as rates."""
    workdir = tempfile.mkdtemp(prefix="esbench-", dir=base)
    try:
        app = BankAccounts(env=env_for(setting, workdir))
        try:
            if setting == "SQLite file":
                info["sqlite"] = sqlite_settings(app)
            return workloads(app, accounts, deposits)
        finally:
            app.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def workloads(app: BankAccounts, accounts: int, deposits: int) -> dict[str, float]:
    rates: dict[str, float] = {}
    amount = Decimal("1.00")

    t = time.perf_counter()
    ids = [app.open_account(f"Holder {i}", f"holder{i}@example.com") for i in range(accounts)]
    rates["open"] = accounts / (time.perf_counter() - t)

    t = time.perf_counter()
    for j in range(deposits):
        app.credit_account(ids[j % accounts], amount)
    rates["deposit"] = deposits / (time.perf_counter() - t)

    t = time.perf_counter()
    total = Decimal("0.00")
    for account_id in ids:
        total += app.get_account(account_id).balance
    rates["get"] = accounts / (time.perf_counter() - t)
    if total != amount * deposits:
        raise AssertionError(f"balances add up to {total}, expected {amount * deposits}")

    expected = accounts + deposits
    size = app.notification_log.section_size
    t = time.perf_counter()
    count = 0
    section_id: str | None = f"1,{size}"
    while section_id is not None:
        section = app.notification_log[section_id]
        count += len(section.items)
        section_id = section.next_id
    rates["log10"] = count / (time.perf_counter() - t)
    if count != expected:
        raise AssertionError(f"notification log sections gave {count}, expected {expected}")

    t = time.perf_counter()
    count = 0
    start = 1
    while True:
        page = app.recorder.select_notifications(start=start, limit=PAGE)
        count += len(page)
        if len(page) < PAGE:
            break
        start = page[-1].id + 1
    rates["log1000"] = count / (time.perf_counter() - t)
    if count != expected:
        raise AssertionError(f"select_notifications gave {count}, expected {expected}")
    return rates


def fmt_rate(r: float) -> str:
    if r >= 1e6:
        return f"{r / 1e6:.2f}M/s"
    if r >= 1e3:
        return f"{r / 1e3:.1f}k/s"
    return f"{r:.0f}/s"


def filesystem(path: str) -> str:
    try:
        out = subprocess.run(
            ["df", "-T", path], capture_output=True, text=True, check=True
        ).stdout.splitlines()
        return out[1].split()[1]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown filesystem"


def durability_caption(info: dict) -> str:
    journal, sync = info.get("sqlite", ("?", -1))
    level = f"{SYNCHRONOUS.get(sync, sync)} ({sync})"
    if journal.lower() == "wal" and sync >= 2:
        what = "the WAL is fsynced at every commit, so a committed save survives a power loss"
    elif journal.lower() == "wal" and sync == 1:
        what = (
            "commits are not fsynced (only checkpoints are): a power loss can lose "
            "the last commits, though the database stays consistent"
        )
    elif sync == 0:
        what = "nothing is fsynced"
    else:
        what = "see SQLite's documentation of this combination"
    return (
        f"Durability: eventsourcing.sqlite sets `journal_mode={journal}` and leaves "
        f"`synchronous` at SQLite's default, here {level}: {what}. "
        "Rewind LMDB makes each save one durable LMDB commit (fsync before "
        "it returns). POPO and Rewind in memory are not durable."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smaller run (< 30 s)")
    parser.add_argument("--reps", type=int)
    parser.add_argument("--accounts", type=int)
    parser.add_argument("--deposits", type=int)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    args = parser.parse_args(argv)
    reps = args.reps or (3 if args.quick else 5)
    accounts = args.accounts or (500 if args.quick else 2000)
    deposits = args.deposits or (1500 if args.quick else 8000)
    if reps < 1 or accounts < 1 or deposits < 0:
        parser.error("--reps and --accounts must be at least 1, --deposits at least 0")

    info: dict = {}
    for setting in SETTINGS:  # warm-up: imports, schema creation paths, caches
        run_once(setting, args.dir, min(accounts, 20), min(deposits, 20), info)

    results: dict[str, list[dict[str, float]]] = {s: [] for s in SETTINGS}
    started = time.perf_counter()
    for rep in range(reps):
        for setting in SETTINGS:
            results[setting].append(run_once(setting, args.dir, accounts, deposits, info))
        print(f"repetition {rep + 1}/{reps} done", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started

    num, den = RATIO
    header = list(SETTINGS) + [f"{num} ÷ {den}"]
    lines = [
        f"| workload | {' | '.join(header)} |",
        "|---" * (len(header) + 1) + "|",
    ]
    for key, label, unit in WORKLOADS:
        cells = [fmt_rate(statistics.median(r[key] for r in results[s])) for s in SETTINGS]
        ratio = statistics.median(
            a[key] / b[key] for a, b in zip(results[num], results[den])
        )
        lines.append(f"| {label}, {unit} | {' | '.join(cells)} | {ratio:.2f} |")

    print(
        f"eventsourcing {dist_version('eventsourcing')} example application `BankAccounts`; "
        f"rewind {dist_version('rewind')}; SQLite {__import__('sqlite3').sqlite_version}; "
        f"Python {platform.python_version()}; {os.cpu_count()} CPUs; "
        f"storage in {args.dir} ({filesystem(args.dir)})."
    )
    print(
        f"Medians of {reps} repetitions, settings interleaved within each; each run: a new "
        f"store, {accounts} accounts opened, {deposits} deposits, every account read back, "
        f"the {accounts + deposits} notifications read twice. The ratio is the median of "
        f"the per-repetition ratios. {durability_caption(info)}"
    )
    print()
    print("\n".join(lines))
    print()
    print(f"({elapsed:.1f} s of timed runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
