"""Settings of the benchmark's gunicorn: the app's own settings, plus what only the bench needs.

- bench.timing.ServerTimingMiddleware, outermost: each response says how long the server spent on
  it (Server-Timing: app;dur=<ms>) and how many SQL queries it ran (X-Bench-Queries), so that list
  pages are timed where they run, not across the network and the bench's own process.
- bench.urls: the app's URLs plus /baseline/, the bare one-row view the submission figures are
  compared with, served by the same gunicorn workers.

Loaded with DJANGO_SETTINGS_MODULE=bench.settings; leadcrm/settings.py is not changed.
"""

from leadcrm.settings import *  # noqa: F403
from leadcrm.settings import MIDDLEWARE

MIDDLEWARE = ["bench.timing.ServerTimingMiddleware", *MIDDLEWARE]
ROOT_URLCONF = "bench.urls"
