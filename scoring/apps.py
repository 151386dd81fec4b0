from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = "Scoring"

    def ready(self) -> None:
        # leads announces stored events with a signal; scoring answers with a recompute nudge.
        from . import receivers

        receivers.connect()
