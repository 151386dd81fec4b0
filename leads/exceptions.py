"""Domain errors of the leads app, mapped to HTTP in one place (leads/api/errors.py)."""


class LeadError(Exception):
    """Base of every domain error: its message is shown to the person or integration as is."""

    code = "lead_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TransitionNotAllowed(LeadError):
    code = "transition_not_allowed"


class ReasonRequired(LeadError):
    code = "reason_required"


class AlreadyClaimed(LeadError):
    code = "already_claimed"


class OfferedToAnotherRep(AlreadyClaimed):
    """Routing offered the handoff to another rep, whose turn has not lapsed yet."""

    code = "offered_to_another_rep"


class ConsentRequired(LeadError):
    """Sales contacts a customer about an upgrade only with the customer's agreement."""

    code = "consent_required"


class NotPermitted(LeadError):
    code = "not_permitted"


class Suppressed(LeadError):
    """The address belongs to a person who asked to be forgotten (the suppression list)."""

    code = "suppressed"
