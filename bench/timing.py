"""Server-side timing for the benchmark suite (loaded only by bench/settings.py)."""

import os
import time

from django.db import connection


class ServerTimingMiddleware:
    """Adds to every response the time the server spent producing it (Server-Timing: app;dur=ms),
    the number of SQL queries it ran (X-Bench-Queries) and the id of the worker process that
    served it (X-Bench-Pid, to read that process's memory). A streamed body (the CSV export) is
    produced after this returns: its time is measured by the client."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.pid = str(os.getpid())

    def __call__(self, request):
        queries = 0

        def count(execute, sql, params, many, context):
            nonlocal queries
            queries += 1
            return execute(sql, params, many, context)

        started = time.perf_counter()
        with connection.execute_wrapper(count):
            response = self.get_response(request)
        response["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
        response["X-Bench-Queries"] = str(queries)
        response["X-Bench-Pid"] = self.pid
        return response
