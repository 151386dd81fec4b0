"""Domain errors of the scoring app. They are LeadErrors, so the API's one exception handler
(leads/api/errors.py) answers them with their message (409 unless it maps them otherwise)."""

from leads.exceptions import LeadError


class RuleSetNotEditable(LeadError):
    """Published and archived versions are history: only the draft may change."""

    code = "ruleset_not_editable"


class NothingToPublish(LeadError):
    code = "nothing_to_publish"
