"""Slash-command ack latency under open-loop load against `incidentbot serve` (gunicorn).

Starts the sandbox Slack (`incidentbot sandbox`) and the bot (`incidentbot serve`, the
real gunicorn process, configured by environment variables) as subprocesses on
loopback, with a migrated database. At each rate, signed `/incident` slash commands are
sent on a fixed schedule from a thread pool, never waiting for earlier answers, so a
slow bot shows up as queueing in the latency (measured from each request's scheduled
send time, not from when a thread got round to it). Half the requests (`--declare-share`)
declare an incident (`/incident <title> sev2`), the rest are a cheap subcommand
(`/incident help`, or `list` with `--cheap list`); each kind is reported on its own:
count, errors (non-200, no answer, a wrong answer, or slower than Slack's 3 s), p50,
p90, p99, max. Then it waits for every declared incident to be provisioned and prints
how many were, the Slack Web API calls per declaration from the sandbox's call log, and
the CPU time the bot (gunicorn master and workers) and the sandbox used per request.
`--slack-latency 0.15` makes every sandbox Web API answer take as long as real Slack's.

    python3 -m uv run python benchmarks/ack_load.py [--rates 50,100] [--duration 10] [--database-url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import func
from sqlmodel import Session, select

from incidentbot.db import make_engine, migrate
from incidentbot.models import Incident
from incidentbot.sandbox.client import SandboxClient
from incidentbot.sandbox.driver import FORM, SlackDriver
from incidentbot.webserver import default_workers

sys.path.insert(0, str(Path(__file__).parent))
from declare import percentile  # noqa: E402  (same percentile rule as the other benchmarks)

SLACK_ACK_WINDOW = 3.0  # seconds; Slack shows the user an error after this
USER, CHANNEL = "U0ALICE", "C0GENERAL"
# What each kind's ack must say; a 200 with anything else is a failure the user sees.
EXPECTED = {"declare": "Declaring INC-", "help": "incidentbot commands", "list": ""}


@dataclass
class Sent:
    kind: str
    scheduled: float
    started: float = 0.0
    finished: float = 0.0
    status: int | None = None  # None: no answer (connection refused, reset, client timeout)
    body: str = ""

    @property
    def latency(self) -> float:
        return self.finished - self.scheduled

    @property
    def ok(self) -> bool:
        return self.status == 200 and EXPECTED[self.kind] in self.body and self.latency <= SLACK_ACK_WINDOW


def _command() -> list[str]:
    script = Path(sys.executable).parent / "incidentbot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "incidentbot"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def sandbox_process(log: Path):
    """`incidentbot sandbox` on a free loopback port; yields its Web API URL (its first line)."""
    process = subprocess.Popen([*_command(), "sandbox", "--port", "0"], stdout=subprocess.PIPE,
                               stderr=log.open("w"), text=True)
    try:
        api_url = process.stdout.readline().strip()
        if not api_url.startswith("http://127.0.0.1"):
            raise RuntimeError(f"incidentbot sandbox did not start: {api_url!r}; see {log}")
        # Keep reading its stdout so a full pipe can never block it.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        yield api_url, process.pid
    finally:
        _stop(process)


@contextmanager
def bot_process(api_url: str, database_url: str, secret: str, workers: int, threads: int, log: Path):
    """`incidentbot serve` (gunicorn) on a free loopback port; yields its /slack/events URL."""
    port = _free_port()
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-sandbox", "SLACK_SIGNING_SECRET": secret,
           "SLACK_API_URL": api_url, "DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([*_command(), "serve", "--host", "127.0.0.1", "--port", str(port),
                                "--workers", str(workers), "--threads", str(threads)],
                               env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        _wait_healthy(process, f"http://127.0.0.1:{port}/healthz", log)
        yield f"http://127.0.0.1:{port}/slack/events", process.pid
    finally:
        _stop(process)


def _wait_healthy(process: subprocess.Popen, url: str, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"incidentbot serve exited ({process.returncode}):\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"incidentbot serve did not answer {url} within {timeout:.0f} s; see {log}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


def kinds(count: int, declare_share: float, cheap: str) -> list[str]:
    """Declarations spread evenly through the stream (every other request at 0.5)."""
    return ["declare" if int((i + 1) * declare_share) > int(i * declare_share) else cheap for i in range(count)]


def build(driver: SlackDriver, plan: list[str], label: str) -> list[bytes]:
    """Every request's body before the clock starts, as Slack would send it.

    The driver builds one command; the others copy it with their own text and a freshly
    minted trigger_id and response_url (the driver's user and channel lookups read the
    whole sandbox workspace, which grows with every incident, so they are done once).
    """
    template = dict(parse_qsl(driver.slash_command_body("help", user=USER, channel=CHANNEL).decode()))

    def body(item: tuple[int, str]) -> bytes:
        i, kind = item
        text = f"Checkout latency {label} {i} sev2" if kind == "declare" else kind
        form = {**template, "text": text, "trigger_id": driver.sandbox.mint_trigger(USER),
                "response_url": driver.sandbox.mint_response_url(CHANNEL, USER)}
        return urlencode(form).encode()
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(body, enumerate(plan)))


def fire(driver: SlackDriver, pool: ThreadPoolExecutor, plan: list[str], bodies: list[bytes], rate: float) -> list[Sent]:
    """Open loop: request i is handed to the pool at start + i / rate, whatever came back."""
    def send(sent: Sent, body: bytes) -> Sent:
        sent.started = time.perf_counter()
        try:
            answer = driver.send(body, FORM)
            sent.status, sent.body = answer.status, answer.body
        except (urllib.error.URLError, OSError):
            pass
        sent.finished = time.perf_counter()
        return sent

    start = time.perf_counter() + 0.1
    futures = []
    for i, (kind, body) in enumerate(zip(plan, bodies)):
        at = start + i / rate
        time.sleep(max(0.0, at - time.perf_counter()))
        futures.append(pool.submit(send, Sent(kind, at), body))
    return [f.result() for f in futures]


def report(kind: str, sent: list[Sent]) -> str:
    if not sent:
        return f"  {kind:<8} n=0"
    ms = [s.latency * 1000 for s in sent]
    non_200 = sum(s.status is not None and s.status != 200 for s in sent)
    no_answer = sum(s.status is None for s in sent)
    wrong = sum(s.status == 200 and EXPECTED[s.kind] not in s.body for s in sent)
    slow = sum(s.status == 200 and s.latency > SLACK_ACK_WINDOW for s in sent)
    errors = sum(not s.ok for s in sent)
    return (f"  {kind:<8} n={len(sent):<5} errors={errors} (non-200 {non_200}, no answer {no_answer}, "
            f"wrong answer {wrong}, >3 s {slow})  p50={percentile(ms, 50):7.1f} ms  p90={percentile(ms, 90):7.1f} ms  "
            f"p99={percentile(ms, 99):7.1f} ms  max={max(ms):7.1f} ms")


def achieved(sent: list[Sent]) -> tuple[float, float]:
    """Requests per second actually started, and the worst lag behind the schedule (ms)."""
    starts = sorted(s.started for s in sent)
    rate = (len(starts) - 1) / (starts[-1] - starts[0]) if len(starts) > 1 else 0.0
    return rate, max(s.started - s.scheduled for s in sent) * 1000


def _last_number(engine) -> int:
    with Session(engine) as session:
        return session.exec(select(func.max(Incident.number))).one() or 0


def _counts(engine, after: int) -> tuple[int, int]:
    """Incidents numbered above ``after``: stored, and provisioned."""
    with Session(engine) as session:
        stored = session.exec(select(func.count()).select_from(Incident).where(Incident.number > after)).one()
        done = session.exec(select(func.count()).select_from(Incident).where(
            Incident.number > after, Incident.provisioned_at.is_not(None))).one()
    return stored, done


def settle(engine, after: int, expected: int, timeout: float) -> int:
    """Wait (up to ``timeout``) for every declared incident to be provisioned, then say how it went."""
    started = time.perf_counter()
    stored, done = _counts(engine, after)
    while done < expected and time.perf_counter() - started < timeout:
        time.sleep(0.2)
        stored, done = _counts(engine, after)
    print(f"  provisioned {done}/{expected} declared incidents ({stored} stored) "
          f"{time.perf_counter() - started:.1f} s after the last answer")
    return done


def slack_calls(slack: SandboxClient, declarations: int) -> None:
    calls = Counter(c["method"] for c in slack.calls() if c["method"] != "auth.test")
    per = sum(calls.values()) / max(declarations, 1)
    print(f"  Slack API calls per declaration: {per:.2f} ("
          + ", ".join(f"{m} {n / max(declarations, 1):.2f}" for m, n in sorted(calls.items())) + ")")


def run_rate(driver: SlackDriver, slack: SandboxClient, engine, pool: ThreadPoolExecutor, rate: float,
             args: argparse.Namespace, pids: dict[str, int]) -> None:
    plan = kinds(max(1, round(rate * args.duration)), args.declare_share, args.cheap)
    bodies = build(driver, plan, f"{rate:g}rps {secrets.token_hex(2)}")
    before = _last_number(engine)
    slack.clear_calls()
    cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
    sent = fire(driver, pool, plan, bodies, rate)
    rate_done, lag = achieved(sent)
    print(f"rate {rate:g}/s for {args.duration:g} s: sent {len(sent)}, achieved {rate_done:.1f}/s, "
          f"worst send lag behind schedule {lag:.1f} ms")
    for kind in ("declare", args.cheap):
        print(report(kind, [s for s in sent if s.kind == kind]))
    failures = Counter(f"{s.status} {s.body[:80]!r}" for s in sent if s.status is not None and s.status != 200)
    if failures:
        print("  non-200 answers: " + "; ".join(f"{n} x {what}" for what, n in failures.most_common(3)))
    if args.csv:
        _write_csv(Path(args.csv), rate, sent)
    provisioned = settle(engine, before, sum(s.kind == "declare" for s in sent), args.settle)
    slack_calls(slack, provisioned)
    used = {name: (cpu_seconds(pid) - cpu[name]) * 1000 / len(sent) for name, pid in pids.items()}
    print("  CPU per request, provisioning included: " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in used.items()))


def _write_csv(path: Path, rate: float, sent: list[Sent]) -> None:
    """One row per request (appended), to see when in the run the time went."""
    first = sent[0].scheduled
    with path.open("a") as out:
        for s in sent:
            out.write(f"{rate:g},{s.kind},{(s.scheduled - first) * 1000:.1f},{(s.started - s.scheduled) * 1000:.1f},"
                      f"{s.latency * 1000:.1f},{s.status}\n")


def run(args: argparse.Namespace) -> None:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="incidentbot-ackload-")))
        url = args.database_url or f"sqlite:///{tmp / 'incidentbot.db'}"
        migrate(url)
        engine = make_engine(url)
        stack.callback(engine.dispose)
        secret = secrets.token_hex(16)
        api_url, sandbox_pid = stack.enter_context(sandbox_process(tmp / "sandbox.log"))
        bot_url, bot_pid = stack.enter_context(bot_process(api_url, url, secret, args.workers, args.threads, tmp / "serve.log"))
        slack = SandboxClient(api_url.removesuffix("api/"))
        driver = SlackDriver(bot_url, secret, slack, timeout=args.timeout)
        pool = stack.enter_context(ThreadPoolExecutor(args.senders))
        if args.slack_latency:
            # Every Web API call answers after this delay, as real Slack does (100-300 ms).
            slack.add_fault("*", "slow", seconds=args.slack_latency)
        print(f"database: {engine.dialect.name}; incidentbot serve: {args.workers} worker(s) x {args.threads} threads; "
              f"sandbox Slack in its own process, answering after {args.slack_latency * 1000:.0f} ms; "
              f"{args.declare_share:.0%} declarations, the rest /incident {args.cheap}")
        for rate in args.rates:
            run_rate(driver, slack, engine, pool, rate, args, {"bot": bot_pid, "sandbox": sandbox_pid})
        print("machine: {} cores, load average {:.1f} {:.1f} {:.1f} (1, 5, 15 min) at the end".format(
            os.cpu_count(), *os.getloadavg()))
        if args.keep_logs:
            for name in ("serve.log", "sandbox.log"):
                shutil.copy(tmp / name, Path(args.keep_logs) / name)


def _rates(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", type=_rates, default=[50.0, 100.0], help="requests per second, comma-separated")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per rate (default 10)")
    parser.add_argument("--declare-share", type=float, default=0.5, help="fraction of requests that declare")
    parser.add_argument("--cheap", choices=("help", "list"), default="help", help="the cheap subcommand")
    parser.add_argument("--slack-latency", type=float, default=0.0, metavar="SECONDS",
                        help="delay every sandbox Web API answer by this much (real Slack: 0.1-0.3 s; default 0)")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--workers", type=int, default=None,
                        help="gunicorn workers (default: as `incidentbot serve`, $WEB_CONCURRENCY or one per core up to 4)")
    parser.add_argument("--threads", type=int, default=8, help="threads per worker (default 8, as `incidentbot serve`)")
    parser.add_argument("--senders", type=int, default=256, help="sending threads; enough that none waits for a free one")
    parser.add_argument("--timeout", type=float, default=10.0, help="client timeout per request, s (answers after 3 s count as errors anyway)")
    parser.add_argument("--settle", type=float, default=120.0, help="how long to wait for provisioning, s")
    parser.add_argument("--csv", metavar="FILE", help="append rate,kind,scheduled_ms,send_lag_ms,latency_ms,status per request")
    parser.add_argument("--keep-logs", metavar="DIR", help="copy the bot's and the sandbox's logs here")
    args = parser.parse_args()
    args.workers = args.workers or default_workers()
    run(args)
    sys.exit(0)
