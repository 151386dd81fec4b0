"""Scoring listens to the one announcement of the leads app: events were stored."""

from leads.signals import events_stored

from . import services


def on_events_stored(sender, lead_ids, **kwargs) -> None:
    services.scores_request_recompute(lead_ids=list(lead_ids))


def connect() -> None:
    events_stored.connect(on_events_stored, dispatch_uid="scoring.on_events_stored")
