"""Who may call what: scopes for integration keys, roles for people (and their personal tokens).

Each view declares, per HTTP method, the scope a key needs and the roles a person needs. A personal
token needs both: the scope limits what the script may do, the role what its person may do.
Per-lead rules (which leads a person sees, which moves a role may make) are leads.policy's, the
same rules the browser follows; the helpers below apply them once the view has loaded the lead.
"""

from django.db.models import QuerySet
from django.http import Http404
from rest_framework import permissions

from .. import policy
from ..exceptions import NotPermitted
from ..models import ApiKey, Lead
from ..roles import Role, has_role
from ..stages import SALES_STAGES, Stage
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


def _is_integration(request) -> bool:
    return isinstance(request.user, IntegrationPrincipal)


def visible_leads_for(request) -> QuerySet[Lead]:
    """Integration keys (with the read scope) see every lead; people what leads.policy shows them."""
    if _is_integration(request):
        return Lead.objects.all()
    return policy.visible_leads(request.user)


def check_can_view(request, lead: Lead) -> None:
    """A lead a person may not see answers 404, as if it did not exist."""
    if not _is_integration(request) and not policy.can_view(request.user, lead):
        raise Http404


def _refuse(reason: str | None) -> None:
    if reason:
        raise NotPermitted(reason)


def check_can_edit(request, lead: Lead) -> None:
    check_can_view(request, lead)
    if not _is_integration(request):
        _refuse(policy.why_not_edit_profile(request.user, lead))


def check_can_move(request, lead: Lead, to_stage: str) -> None:
    """Which moves a role may make (leads.policy); the lifecycle table is checked by lead_transition."""
    check_can_view(request, lead)
    if _is_integration(request):
        return
    if to_stage == Stage.CUSTOMER and lead.stage in SALES_STAGES:
        # Closing as customer is the browser's "close" too: the same rule (claim it first).
        _refuse(policy.why_not_close(request.user, lead))
    else:
        _refuse(policy.why_not_move(request.user, lead, to_stage))


def check_can_claim(request, lead: Lead) -> None:
    # No visibility check: a rep racing for a queue lead that another rep just took learns who
    # took it (409 from lead_claim), rather than a puzzling 404.
    _refuse(policy.why_not_claim(request.user, lead))


def check_can_release(request, lead: Lead) -> None:
    check_can_view(request, lead)
    _refuse(policy.why_not_release(request.user, lead))
