from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from . import policy, selectors
from .roles import Role, primary_role

TILE_SETS = {
    Role.ADMIN: ("Marketing", lambda user: selectors.marketing_tiles()),
    Role.MARKETING: ("Marketing", lambda user: selectors.marketing_tiles()),
    Role.SALES: ("Sales", lambda user: selectors.sales_tiles(user=user)),
    Role.SERVICE: ("Service", lambda user: selectors.service_tiles(user=user)),
}


@login_required
def home(request):
    """The pipeline at a glance: the tiles of the user's role, leads per stage, recent moves."""
    role = primary_role(request.user)
    tiles_title, tiles = ("", [])
    if role in TILE_SETS:
        tiles_title, tiles_for = TILE_SETS[role]
        tiles = tiles_for(request.user)
    counts = selectors.pipeline_counts()
    return render(
        request,
        "leads/home.html",
        {
            "role": role,
            "tiles_title": tiles_title,
            "tiles": tiles,
            "period_days": selectors.PERIOD_DAYS,
            "stage_counts": counts,
            "chart": selectors.pipeline_chart(counts),
            "handoff_ages": selectors.open_handoffs_by_age(),
            "recent_changes": selectors.recent_stage_changes(
                leads=None if policy.sees_every_lead(request.user) else policy.visible_leads(request.user)
            ),
        },
    )


@login_required
def search(request):
    query = request.GET.get("q", "").strip()
    # Only leads the user may open: a rep does not learn the names of another rep's leads here.
    visible = policy.visible_leads(request.user)
    results = list(selectors.lead_search(query=query, leads=visible)) if query else []
    return render(request, "leads/search.html", {"search_query": query, "results": results})
