"""Cold start of the `incidentbot` command: `--help` and `--version` as new processes.

Runs each N times as a subprocess (as a person or a script would) and prints the wall
time min/p50/max, next to a bare `python -c pass` for the interpreter's own share;
then the slowest imports of `import incidentbot.cli` (`python -X importtime`, by
cumulative time) and which heavy libraries, if any, that import pulls in.

    python3 -m uv run python benchmarks/cold_start.py [--runs 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from declare import percentile  # noqa: E402  (same percentile rule as the other benchmarks)

# Libraries that only some subcommands need; none should load for --help.
HEAVY = ("slack_bolt", "slack_sdk", "sqlmodel", "sqlalchemy", "alembic", "openai", "matplotlib", "jinja2",
         "apscheduler", "gunicorn", "pydantic", "httpx", "detect_secrets")


def _executable() -> list[str]:
    script = Path(sys.executable).parent / "incidentbot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "incidentbot"]


def timed(argv: list[str], runs: int, expect: str) -> list[float]:
    """Wall seconds of ``runs`` fresh processes; each must succeed and print ``expect``."""
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run(argv, capture_output=True, text=True)
        seconds.append(time.perf_counter() - started)
        if result.returncode != 0 or expect not in result.stdout:
            raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stdout[-500:]}{result.stderr[-500:]}")
    return seconds


def describe(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return f"{name:<28} n={len(ms):<3} min={min(ms):6.1f} ms  p50={percentile(ms, 50):6.1f} ms  max={max(ms):6.1f} ms"


def slowest_imports(module: str, top: int) -> list[tuple[int, int, str]]:
    """(cumulative µs, self µs, name) of the ``top`` slowest imports, from -X importtime."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                            capture_output=True, text=True, check=True)
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        own, cumulative, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
        rows.append((int(cumulative), int(own), name))
    return sorted(rows, reverse=True)[:top]


def heavy_loaded(module: str) -> list[str]:
    code = f"import sys, {module}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return result.stdout.split()


def run(runs: int, top: int) -> None:
    exe = _executable()
    print(f"{' '.join(exe)}; {runs} runs each, one process per run")
    print(describe("python -c pass", timed([sys.executable, "-c", "print('ok')"], runs, "ok")))
    print(describe("incidentbot --help", timed([*exe, "--help"], runs, "usage: incidentbot")))
    print(describe("incidentbot --version", timed([*exe, "--version"], runs, "incidentbot ")))
    print(f"slowest imports of `import incidentbot.cli` (top {top}, cumulative):")
    for cumulative, own, name in slowest_imports("incidentbot.cli", top):
        print(f"  {cumulative / 1000:7.1f} ms cumulative  {own / 1000:6.1f} ms self  {name}")
    loaded = heavy_loaded("incidentbot.cli")
    print("heavy libraries imported by incidentbot.cli: " + (", ".join(loaded) if loaded else "none"))
    print("machine: {} cores, load average {:.1f} {:.1f} {:.1f} (1, 5, 15 min)".format(os.cpu_count(), *os.getloadavg()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--top", type=int, default=10, help="how many of the slowest imports to list")
    args = parser.parse_args()
    run(args.runs, args.top)
    sys.exit(0)
