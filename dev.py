#!/usr/bin/env python3
"""LeadCRM developer commands. Needs only Python 3.11+ and its standard library.

    python3 dev.py demo [--port 8000]   set up, migrate, load demo data, serve on 127.0.0.1
    python3 dev.py test [pytest args]   set up, run the test suite
    python3 dev.py bench [--scale 0.01] set up, run the benchmark suite (bench/run.py), write BENCHMARKS.md
    python3 dev.py setup                create .venv and install the project (what the others do first)
    python3 dev.py constraints          rewrite constraints.txt from the packages installed in .venv

Set-up means: create .venv if it is missing and run `pip install -c constraints.txt -e '.[dev]'`,
skipped while pyproject.toml and constraints.txt are unchanged since the last install.
DATABASE_URL and REDIS_URL are read from the environment, as the app reads them.
"""

from __future__ import annotations  # keeps this file importable on old Pythons, so main() can say why it stops

import argparse
import hashlib
import os
import subprocess
import sys
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
# The hash of the files that decide what is installed; a change means "install again".
INSTALL_STAMP = VENV / ".leadcrm-install-stamp"
INSTALL_INPUTS = ("pyproject.toml", "constraints.txt")
POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql"}


def say(message: str) -> None:
    print(f"==> {message}", flush=True)


def run(*args: str | Path, check: bool = True) -> int:
    env = dict(os.environ, VIRTUAL_ENV=str(VENV), PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    completed = subprocess.run([str(arg) for arg in args], cwd=ROOT, env=env)
    if check and completed.returncode != 0:
        sys.exit(f"dev.py: command failed with exit code {completed.returncode}: {' '.join(map(str, args))}")
    return completed.returncode


def manage(*args: str, check: bool = True) -> int:
    return run(PYTHON, "manage.py", *args, check=check)


# --- set-up ---------------------------------------------------------------------------------


def install_inputs_hash() -> str:
    digest = hashlib.sha256()
    for name in INSTALL_INPUTS:
        path = ROOT / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b"") + b"\0")
    return digest.hexdigest()


def setup() -> None:
    if not PYTHON.exists():
        say(f"Creating the virtual environment in {VENV.name}/")
        completed = subprocess.run([sys.executable, "-m", "venv", str(VENV)], cwd=ROOT)
        if completed.returncode != 0:
            sys.exit("dev.py: could not create .venv (on Debian/Ubuntu: apt-get install python3-venv)")
    wanted = install_inputs_hash()
    if INSTALL_STAMP.exists() and INSTALL_STAMP.read_text().strip() == wanted:
        return
    say("Installing LeadCRM and its dependencies into .venv (pinned by constraints.txt)")
    constraints = ["-c", "constraints.txt"] if (ROOT / "constraints.txt").exists() else []
    run(PYTHON, "-m", "pip", "install", "--disable-pip-version-check", *constraints, "-e", ".[dev]")
    INSTALL_STAMP.write_text(wanted + "\n")


# PostgreSQL does not create a database on first connection as SQLite does. This runs inside
# .venv, where psycopg is installed, so that dev.py itself stays standard-library only.
CREATE_DATABASE_SCRIPT = """
import sys
import psycopg
from psycopg import sql

maintenance_url, name = sys.argv[1], sys.argv[2]
with psycopg.connect(maintenance_url, autocommit=True) as connection:
    if connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        print(f"==> Created PostgreSQL database {name}", flush=True)
"""


def ensure_database() -> None:
    url = urllib.parse.urlsplit(os.environ.get("DATABASE_URL", ""))
    if url.scheme not in POSTGRES_SCHEMES:
        return  # SQLite creates its file itself.
    name = urllib.parse.unquote(url.path.lstrip("/"))
    if not name:
        return
    maintenance_url = urllib.parse.urlunsplit(("postgresql", url.netloc, "/postgres", url.query, ""))
    run(PYTHON, "-c", CREATE_DATABASE_SCRIPT, maintenance_url, name)


# --- commands -------------------------------------------------------------------------------


def command_setup(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="dev.py setup", description="Create .venv and install LeadCRM.").parse_args(argv)
    setup()
    say("Ready: .venv is up to date")
    return 0


def command_demo(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="dev.py demo", description="Set up, migrate, load the demo data and serve on 127.0.0.1."
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("LEADCRM_PORT") or 8000),
        help="port to serve on (default: $LEADCRM_PORT or 8000)",
    )
    args = parser.parse_args(argv)
    setup()
    ensure_database()
    say("Migrating the database")
    manage("migrate", "--noinput")
    say("Loading the demo data (idempotent)")
    manage("seed_demo")
    say(f"Serving on http://127.0.0.1:{args.port}/ (logins in README.md; Ctrl-C stops)")
    return manage("runserver", f"127.0.0.1:{args.port}", check=False)


def command_test(argv: list[str]) -> int:
    setup()
    ensure_database()
    return run(PYTHON, "-m", "pytest", *argv, check=False)


def command_bench(argv: list[str]) -> int:
    # bench/run.py parses its own arguments (--help lists them), checks PostgreSQL, Redis and wrk
    # and says what is missing; it reads BENCH_DATABASE_URL and BENCH_REDIS_URL, never
    # DATABASE_URL: the bench replaces the leads of its database.
    setup()
    return run(PYTHON, ROOT / "bench" / "run.py", *argv, check=False)


def command_constraints(argv: list[str]) -> int:
    argparse.ArgumentParser(
        prog="dev.py constraints", description="Pin every package installed in .venv into constraints.txt."
    ).parse_args(argv)
    setup()
    freeze = [str(PYTHON), "-m", "pip", "freeze", "--disable-pip-version-check", "--exclude-editable"]
    frozen = subprocess.run([*freeze, "--exclude", "leadcrm"], cwd=ROOT, check=True, capture_output=True, text=True)
    header = "# Written by `python3 dev.py constraints` (pip freeze of .venv): exact versions, reproducible installs.\n"
    (ROOT / "constraints.txt").write_text(header + frozen.stdout)
    INSTALL_STAMP.write_text(install_inputs_hash() + "\n")
    say("Wrote constraints.txt")
    return 0


# New subcommands (bench, ...) go here: a function taking the remaining arguments and returning
# an exit code, and one line in this table.
COMMANDS = {
    "demo": (command_demo, "set up, migrate, load demo data and run the server on 127.0.0.1:8000"),
    "test": (command_test, "set up and run pytest (arguments are passed to pytest)"),
    "bench": (command_bench, "set up and run the benchmark suite at 1,000,000 leads (--help: its options)"),
    "setup": (command_setup, "create .venv and install the project with its pinned dependencies"),
    "constraints": (command_constraints, "regenerate constraints.txt from .venv"),
}


def usage() -> str:
    lines = ["usage: python3 dev.py COMMAND [ARGS]", "", "commands:"]
    lines += [f"  {name:<12} {help_text}" for name, (_, help_text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 (dev.py runs on whatever python3 is, not only .venv's)
        sys.exit("dev.py: LeadCRM needs Python 3.11 or newer")
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"dev.py: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[name][0](rest)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
