"""Who may call what: scopes for integration keys, roles for people (and their personal tokens).

Each view declares, per HTTP method, the scope a key needs and the roles a person needs. A personal
token needs both: the scope limits what the script may do, the role what its person may do.
Per-lead rules (a rep and another rep's lead, which moves a role may make) live in the helpers
below and are checked by the views once the lead is loaded.
"""

from rest_framework import permissions

from ..exceptions import NotPermitted
from ..models import ApiKey, Lead
from ..roles import Role, has_role
from ..stages import MARKETING_STAGES, SALES_STAGES, Stage
from .auth import IntegrationPrincipal, request_api_key

SUBMIT = ApiKey.Scope.SUBMIT.value
READ = ApiKey.Scope.READ.value
WRITE = ApiKey.Scope.WRITE.value

EVERY_ROLE = (Role.MARKETING, Role.SALES, Role.SERVICE)


class ApiAccess(permissions.BasePermission):
    """Reads `view.access`: {method: (scope, roles, people_only)}."""

    message = "You do not have permission to do this."

    def has_permission(self, request, view) -> bool:
        rule = view.access.get(request.method) or view.access.get("GET")
        if rule is None:
            return False
        scope, roles, people_only = rule
        api_key = request_api_key(request)
        if api_key is not None:
            if scope not in api_key.scopes:
                self.message = f"This API key lacks the `{scope}` scope."
                return False
            if api_key.form_name and not getattr(view, "form_keys_allowed", False):
                self.message = "A form key may only post submissions for its form."
                return False
        if isinstance(request.user, IntegrationPrincipal):
            if people_only:
                self.message = "Only a person (a session or a personal token) can do this."
                return False
            return True
        if not request.user or not request.user.is_authenticated:
            return False
        if not has_role(request.user, *roles):
            self.message = "Your role does not allow this."
            return False
        return True


def check_can_edit(request, lead: Lead) -> None:
    """A sales rep changes only leads that are theirs or nobody's; marketing and admins any."""
    user = request.user
    if isinstance(user, IntegrationPrincipal) or has_role(user, Role.MARKETING):
        return
    if has_role(user, Role.SALES) and lead.owner_id not in (None, user.pk):
        raise NotPermitted("This lead belongs to another rep.")


def check_can_move(request, lead: Lead, to_stage: str) -> None:
    """Which moves a role may make; the lifecycle table itself is checked by lead_transition."""
    user = request.user
    if isinstance(user, IntegrationPrincipal) or has_role(user, Role.ADMIN):
        return
    source = lead.stage
    if has_role(user, Role.MARKETING) and (source in MARKETING_STAGES or source == Stage.DISQUALIFIED):
        return
    if has_role(user, Role.SALES) and source in SALES_STAGES:
        if lead.owner_id not in (None, user.pk):
            raise NotPermitted("This lead belongs to another rep.")
        return
    if has_role(user, Role.SERVICE) and (source, to_stage) == (Stage.CUSTOMER, Stage.SERVICE_QUALIFIED):
        return
    raise NotPermitted("Your role does not allow this move.")


def check_can_release(request, lead: Lead) -> None:
    user = request.user
    if has_role(user, Role.ADMIN) or lead.owner_id is None or lead.owner_id == user.pk:
        return
    raise NotPermitted("Only the owner or an admin can release this lead.")
