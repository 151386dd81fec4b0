"""manage.py purge_idempotency_keys [--hours 24]: forget Idempotency-Key answers past the retry window.

Run it daily (cron, or a Celery beat entry); the created_at index keeps it cheap.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand

from leads.ingest import idempotency_records_purge


class Command(BaseCommand):
    help = "Delete stored Idempotency-Key answers older than --hours (default 24)."

    def add_arguments(self, parser):
        parser.add_argument("--hours", type=int, default=24)

    def handle(self, *args, hours, **options):
        deleted = idempotency_records_purge(older_than=timedelta(hours=hours))
        self.stdout.write(f"Deleted {deleted} idempotency record(s) older than {hours} h.")
