"""Announcements of the leads app to the apps that build on it (scoring registers receivers).

Both are sent after commit, with ids only.
"""

from django.dispatch import Signal

# Sent with lead_ids (a list) after events were stored and the leads marked score_stale.
events_stored = Signal()
# Sent with lead_id and change_id after a stage change committed.
lead_stage_changed = Signal()
