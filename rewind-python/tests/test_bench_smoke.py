"""Smoke test of the eventsourcing application benchmark
(`rewind-python/bench/eventsourcing_app.py`): a tiny run must print a
Markdown table with every persistence setting, every workload and positive
rates."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("eventsourcing")

SCRIPT = os.path.join(os.path.dirname(__file__), os.pardir, "bench", "eventsourcing_app.py")
SETTINGS = ["POPO", "SQLite file", "Rewind LMDB", "Rewind in memory"]
UNITS = {"M/s": 1e6, "k/s": 1e3, "/s": 1.0}


def rate(cell: str) -> float:
    for suffix, scale in UNITS.items():
        if cell.endswith(suffix):
            return float(cell[: -len(suffix)]) * scale
    raise AssertionError(f"not a rate: {cell!r}")


def test_tiny_run_prints_every_setting_with_positive_rates(tmp_path: object) -> None:
    out = subprocess.run(
        [sys.executable, SCRIPT, "--reps", "2", "--accounts", "5", "--deposits", "10",
         "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    assert header == ["workload", *SETTINGS, "Rewind LMDB ÷ SQLite file"]
    assert set(rows[1].replace("|", "")) == {"-"}
    body = rows[2:]
    assert len(body) == 5
    for row in body:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == len(header)
        assert all(rate(c) > 0 for c in cells[1:-1]), row
        assert float(cells[-1]) > 0, row
    assert "synchronous" in out.stdout
    assert os.listdir(str(tmp_path)) == []
