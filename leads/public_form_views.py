"""The public side of web forms: where a plain HTML form on any website posts, and its pages.

No login and no CSRF token: the post comes from another site by design. The form's public key
(a hidden field) says which form it is; leads.public_forms decides the rest.
"""

from __future__ import annotations

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from rest_framework.throttling import BaseThrottle

from . import public_forms
from .public_forms import FormRefused


class _Address(BaseThrottle):
    """Only for get_ident: the client address as the API's limiter sees it (NUM_PROXIES aware)."""


@csrf_exempt
@require_POST
def public_form_post(request):
    page_url = public_forms.page_url_from(request.headers.get("Referer", ""))
    try:
        public_forms.size_check(request.META.get("CONTENT_LENGTH"))
        api_key = public_forms.form_key_check(request.POST.get(public_forms.FORM_KEY_FIELD, ""))
        public_forms.rate_check(api_key=api_key, address=_Address().get_ident(request))
        posted = public_forms.public_form_submit(api_key=api_key, post=request.POST, page_url=page_url)
    except FormRefused as refused:
        response = render(
            request,
            "leads/public_form_page.html",
            {"title": refused.title, "errors": refused.errors, "message": refused.message, "back_url": page_url},
            status=refused.status,
        )
        if refused.retry_after:
            response["Retry-After"] = str(refused.retry_after)
        return response
    # 303: the browser follows with a GET, so a reload of the thank-you page never posts again.
    return HttpResponseRedirect(posted.redirect_to or reverse("public-form-thanks"), status=303)


@require_GET
def public_form_thanks(request):
    return render(
        request,
        "leads/public_form_page.html",
        {"title": "Thank you", "message": "We have received your details and will be in touch soon."},
    )
