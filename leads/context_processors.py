from .navigation import navigation_for
from .roles import ROLE_LABELS, user_roles


def navigation(request):
    """The left navigation and who is signed in, for the layout (templates/base.html)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    held = user_roles(user)
    role_label = " · ".join(label for role, label in ROLE_LABELS.items() if role in held) or "No role"
    initials = "".join(part[:1] for part in (user.first_name, user.last_name) if part).upper()
    return {
        "nav_items": navigation_for(user, request.path),
        "user_role_label": role_label,
        "user_initials": initials or user.get_username()[:2].upper(),
    }
