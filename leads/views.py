from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from . import selectors


@login_required
def home(request):
    return render(
        request,
        "leads/home.html",
        {
            "stage_counts": selectors.pipeline_counts(),
            "recent_changes": selectors.recent_stage_changes(),
        },
    )
