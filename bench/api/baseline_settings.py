"""Settings of the baseline (issue 9): the app's settings, with only the bare one-row view routed.

Run with DJANGO_SETTINGS_MODULE=baseline_settings and bench/api on PYTHONPATH (bench/api/run.sh).
"""

from leadcrm.settings import *  # noqa: F403

ROOT_URLCONF = "baseline_urls"
