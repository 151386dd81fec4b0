"""The suite's results: figures with their baseline and target, timed steps, BENCHMARKS.md."""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:7.1f}s] {message}", flush=True)


# --- Results ---------------------------------------------------------------------------------


@dataclass
class Figure:
    section: str
    name: str
    value: float | None
    unit: str
    baseline: str = ""
    target: str = ""
    met: bool | None = None  # None: no target
    note: str = ""

    def formatted(self) -> str:
        if self.value is None:
            return "n/a"
        if self.unit in {"ms", "s", "MB", "%"}:
            text = f"{self.value:,.1f}" if abs(self.value) < 100 else f"{self.value:,.0f}"
        else:
            text = f"{self.value:,.0f}"
        return f"{text} {self.unit}".strip()

    @property
    def verdict(self) -> str:
        return "" if self.met is None else ("met" if self.met else "MISSED")


@dataclass
class Run:
    args: argparse.Namespace
    figures: list[Figure] = field(default_factory=list)
    steps: list[tuple[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    machine: dict = field(default_factory=dict)

    def add(self, section: str, name: str, value, unit: str, **extra) -> Figure:
        figure = Figure(section, name, value, unit, **extra)
        if not self.figures or self.figures[-1].section != section:
            print(f"  {section}", flush=True)
        self.figures.append(figure)
        line = f"    {name}: {figure.formatted()}"
        if figure.baseline:
            line += f"  | baseline: {figure.baseline}"
        if figure.target:
            line += f"  | target: {figure.target} -> {figure.verdict or 'no verdict'}"
        if figure.note:
            line += f"  ({figure.note})"
        print(line, flush=True)
        return figure


class step:
    """`with step(run, label):` prints the label, then how long the step took, and records it."""

    def __init__(self, run: Run, label: str):
        self.run, self.label = run, label

    def __enter__(self):
        self.started = time.monotonic()
        say(f"==> {self.label}")
        return self

    def __exit__(self, *exc):
        elapsed = time.monotonic() - self.started
        self.run.steps.append((self.label, elapsed))
        say(f"    {self.label}: {elapsed:.1f}s" + (" (failed)" if exc[0] else ""))
        return False


def machine() -> dict:
    import celery
    import django
    import gunicorn
    import psycopg
    import redis
    from django.db import connection

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    redis_version = redis.Redis.from_url(os.environ["REDIS_URL"]).info("server")["redis_version"]
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split("[")[0]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(memory / 1024 / 1024, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgresql": postgres,
        "redis": redis_version,
        "gunicorn": gunicorn.__version__,
        "celery": celery.__version__,
        "psycopg": psycopg.__version__,
        "wrk": wrk_version.strip() or "wrk",
        "commit": commit or "unknown",
    }


# --- The report ------------------------------------------------------------------------------


def write_report(run: Run, path: Path, seed_info, load_start, load_end, started_at: datetime, total: float) -> None:
    m, args = run.machine, run.args
    lines = [
        "# LeadCRM benchmarks",
        "",
        f"Written by `python3 dev.py bench{'' if args.scale == 1 else f' --scale {args.scale:g}'}` (bench/run.py) "
        f"on {started_at:%Y-%m-%d %H:%M} UTC, commit {m['commit']}; the whole run took {total / 60:.1f} minutes. "
        "Every figure is measured in the same run as its baseline, on the same machine, so the ratios hold "
        "even when the machine is busy; each target is issue 9's.",
        "",
        "## Machine and versions",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; RAM {m['ram_gb']} GB; {m['os']}",
        f"- Load average at the start: {' / '.join(f'{x:.2f}' for x in load_start)}; at the end: "
        f"{' / '.join(f'{x:.2f}' for x in load_end)} (1 / 5 / 15 minutes)",
        f"- Python {m['python']}, Django {m['django']}, PostgreSQL {m['postgresql']}, Redis {m['redis']}, "
        f"gunicorn {m['gunicorn']}, Celery {m['celery']}, psycopg {m['psycopg']}, {m['wrk']}",
        f"- The app as deployed: gunicorn with {args.web_workers} sync workers, DEBUG=0, one Celery worker "
        "process (solo pool), PostgreSQL and Redis on the same machine; load from wrk (2 threads), producer "
        "processes and the bench's own process as separate processes. The bench's gunicorn adds one "
        "middleware (bench/timing.py: Server-Timing and query count headers) and the baseline's URL.",
        f"- Data: {seed_info.leads:,} leads and {seed_info.events:,} events (scale {seed_info.scale:g}; "
        f"{'reused, seeded' if seed_info.reused else 'seeded'} in {seed_info.seconds:.0f} s), plus what the runs add.",
        "",
        "## Figures",
    ]
    section = None
    for figure in run.figures:
        if figure.section != section:
            section = figure.section
            lines += ["", f"### {section}", "", "| figure | value | target | | baseline (same run); details |"]
            lines.append("|---|--:|---|---|---|")
        baseline = f"baseline: {figure.baseline}" if figure.baseline else ""
        details = "; ".join(text for text in (baseline, figure.note) if text)
        lines.append(f"| {figure.name} | {figure.formatted()} | {figure.target} | {figure.verdict} | {details} |")
    missed = [figure for figure in run.figures if figure.met is False]
    targets = [figure for figure in run.figures if figure.met is not None]
    lines += ["", "## Summary", "", f"{len(targets) - len(missed)} of {len(targets)} targets met."]
    if missed:
        lines += ["", "Missed:", ""]
        lines += [f"- {f.section.split(' (')[0]}: {f.name}: {f.formatted()} (target {f.target})" for f in missed]
        lines += ["", 'Why, with the profiles behind each miss: bench/README.md, section "Misses, profiled".']
    if load_start[0] > m["cores"] or load_end[0] > m["cores"]:
        lines += [
            "",
            f"The machine was busy (load average {load_start[0]:.1f} at the start, {load_end[0]:.1f} at the end, on "
            f"{m['cores']} cores): throughput and latency are lower than on an idle machine. The ratios to the "
            "baselines of the same run, and the server CPU per request, depend much less on the neighbours.",
        ]
    if args.scale != 1:
        lines += ["", f"At scale {args.scale:g} the figures are indicative only: the targets are for 1,000,000 leads."]
    lines += ["", "## Time of each step", "", "| step | seconds |", "|---|---|"]
    lines += [f"| {label} | {seconds:.1f} |" for label, seconds in run.steps]
    lines += ["", *run.notes] if run.notes else []
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
