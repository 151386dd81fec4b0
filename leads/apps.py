from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"

    def ready(self) -> None:
        # Outgoing webhooks listen to the leads app's own announcements (stage changes).
        from . import webhooks

        webhooks.connect()
        # The audit log records logins (Django's auth signals).
        from . import audit

        audit.connect()
