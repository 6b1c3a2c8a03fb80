"""Smoke tests: the benchmark scripts still run and print their figures (tiny sizes).

They check that each script works end to end and reports what it measured; the
figures themselves are written up in docs/performance.md, never asserted.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
FIGURES = r"p50=\s*[\d.]+ ms\s+p90=\s*[\d.]+ ms\s+p99=\s*[\d.]+ ms\s+max=\s*[\d.]+ ms"


def _run(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                            cwd=BENCHMARKS.parent, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_ack_load_reports_each_kind_and_provisions_every_declaration():
    # Late acks (non-200, no answer) are figures: a loaded CI machine can make Bolt give up
    # on a cold worker. A declaration Slack gave up on is still provisioned, so that holds.
    out = _run("ack_load.py", "--rates", "5", "--duration", "1")

    assert re.search(r"rate 5/s for 1 s: sent 5, achieved [\d.]+/s", out), out
    for kind, count in (("declare", 2), ("help", 3)):
        line = re.search(rf"^  {kind}\s+n={count}\s+errors=\d+ \(non-200 \d+, no answer \d+, wrong answer 0, >3 s \d+\)\s+"
                         + FIGURES, out, re.MULTILINE)
        assert line, out
    assert "provisioned 2/2 declared incidents (2 stored)" in out, out
    calls = re.search(r"Slack API calls per declaration: ([\d.]+) \(.*conversations\.create 1\.00", out)
    assert calls and float(calls.group(1)) >= 5, out


def test_cold_start_times_help_and_version_and_lists_imports():
    out = _run("cold_start.py", "--runs", "2", "--top", "3")

    for name in ("python -c pass", "incidentbot --help", "incidentbot --version"):
        assert re.search(rf"^{re.escape(name)}\s+n=2\s+min=\s*[\d.]+ ms\s+p50=\s*[\d.]+ ms\s+max=\s*[\d.]+ ms$",
                         out, re.MULTILINE), out
    imports = re.findall(r"^\s+[\d.]+ ms cumulative\s+[\d.]+ ms self  (\S+)$", out, re.MULTILINE)
    assert len(imports) == 3 and imports[0] == "incidentbot.cli", out
    # The CLI's promise (cli.py): --help loads none of the libraries only subcommands need.
    assert "heavy libraries imported by incidentbot.cli: none" in out, out


def test_sweeps_times_each_reconcile_query():
    out = _run("sweeps.py", "--incidents", "300", "--repeat", "1")

    assert "database: sqlite; 300 incidents" in out, out
    for query in ("stale_cards", "unprovisioned", "unposted_updates", "resolved_without_postmortem"):
        assert re.search(rf"^  {query}\s+[\d.]+ ms per run$", out, re.MULTILINE), out


def test_matching_times_the_first_and_later_matches():
    out = _run("matching.py", "--backlog", "50", "--runs", "3")

    assert "50 open backlog items" in out, out
    assert re.search(r"first match in a process:\s+[\d.]+ ms", out), out
    assert re.search(r"later matches:\s+min [\d.]+ ms  p50 [\d.]+ ms  max [\d.]+ ms", out), out
