from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"

    def ready(self) -> None:
        # The audit log records logins (Django's auth signals).
        from . import audit

        audit.connect()
