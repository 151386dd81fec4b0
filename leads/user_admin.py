"""The users admin with off-boarding: a leaving rep is released and deactivated, never deleted.

Lead.owner is PROTECT: deleting a user who owns leads would have dropped their open leads out of
every queue. The admin says so in plain words and offers the off-boarding action instead
(leads.services.rep_offboard: each open lead back to the sales queue through lead_release, then
the account deactivated).
"""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.shortcuts import redirect
from django.urls import reverse

from .exceptions import TransitionNotAllowed
from .services import rep_offboard

User = get_user_model()


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


@admin.action(description="Off-board: open leads back to the sales queue, deactivate the account")
def offboard_users(modeladmin, request, queryset):
    for user in queryset.order_by("pk"):
        if user.pk == request.user.pk:
            modeladmin.message_user(request, "You cannot off-board yourself.", messages.ERROR)
            continue
        try:
            result = rep_offboard(user=user, by=request.user)
        except TransitionNotAllowed as error:
            modeladmin.message_user(request, f"{_name(user)} was not off-boarded. {error}", messages.ERROR)
            continue
        count = len(result.released)
        modeladmin.message_user(
            request,
            f"{_name(user)} is deactivated; {count} open lead{'s' if count != 1 else ''} went back to the sales queue"
            + (f" and {result.offers_withdrawn} offer(s) were withdrawn." if result.offers_withdrawn else "."),
            messages.SUCCESS,
        )


class LeadCrmUserAdmin(UserAdmin):
    actions = [*(UserAdmin.actions or []), offboard_users]

    def delete_view(self, request, object_id, extra_context=None):
        user = self.get_object(request, object_id)
        owned = user.owned_leads.count() if user is not None else 0
        if owned:
            self.message_user(
                request,
                f"{_name(user)} owns {owned} lead{'s' if owned != 1 else ''} and cannot be deleted (their leads "
                "would be left without an owner). Use the action “Off-board” on the users list: their open "
                "leads go back to the sales queue and the account is deactivated.",
                messages.ERROR,
            )
            return redirect(reverse("admin:auth_user_change", args=[user.pk]))
        return super().delete_view(request, object_id, extra_context)


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, LeadCrmUserAdmin)
