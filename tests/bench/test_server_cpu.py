"""The bench's server CPU per request (bench/harness.py, measured_wrk): a PostgreSQL backend that
ends in the middle of a run (its web worker's connection reached CONN_MAX_AGE) and the one that
replaces it are both counted, not only the processes alive at the end."""

import argparse
import subprocess
import sys
import time

from bench import harness

BURN = "import time\nend = time.process_time() + {seconds}\nwhile time.process_time() < end: pass\n"


class FakeServer:
    """A server whose one 'backend' is a process that burns CPU, then ends and is replaced."""

    port = 1
    worker = None

    def __init__(self):
        self.backends = []

    def web_pids(self):
        return []

    def server_pids(self):
        return [process.pid for process in self.backends if process.poll() is None]


def burn(seconds: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", BURN.format(seconds=seconds)])


def test_a_backend_that_ends_mid_run_still_counts_and_so_does_its_successor(monkeypatch):
    server = FakeServer()
    runs = []

    def fake_wrk(script, url, *, connections, seconds, env, timeout="10s", while_running=None):
        runs.append(while_running)
        sample = while_running or (lambda: None)
        if len(runs) == 1:  # the warm-up: the first backend starts
            server.backends.append(burn(0.6))
            time.sleep(0.05)
            return {"requests": 10}
        while server.backends[0].poll() is None:  # it burns its CPU and ends, reaped at once
            sample()
            time.sleep(0.05)
        server.backends.append(burn(0.4))  # the worker opens a new connection
        while server.backends[1].poll() is None:
            sample()
            time.sleep(0.05)
        return {"requests": 100}

    monkeypatch.setattr(harness, "wrk", fake_wrk)
    args = argparse.Namespace(warmup=1, duration=1)

    result = harness.measured_wrk(server, "submission.lua", connections=1, args=args, env={})

    # ~1.0 s of CPU over 100 requests: ~10 ms each, all of it PostgreSQL's (the split counts
    # what is neither web nor worker as PostgreSQL). Read only at the start and at the end, both
    # would be missed: neither is alive at the end (the old harness reported 0 here).
    per_request = result["server_cpu_ms_per_request"]
    assert 8 <= per_request <= 13, per_request
    assert result["server_cpu_split_ms"]["postgres"] == per_request
