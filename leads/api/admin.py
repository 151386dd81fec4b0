"""Admin of API keys (owned by the integrations API): create (the key is shown once), revoke, see use."""

from django import forms
from django.contrib import admin, messages

from ..models import ApiKey
from .auth import api_key_create, api_key_revoke


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiKey.Scope.choices, widget=forms.CheckboxSelectMultiple, help_text="What the key may do."
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "form_name", "user"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "prefix", "scope_list", "form_name", "user", "created_at", "last_used_at", "active"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "form_name"]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        # A key's powers are fixed once it exists: revoke it and create another instead.
        if obj is not None:
            return [*self.readonly_fields, "name", "scopes", "form_name", "user"]
        return self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is not None:
            kwargs["form"] = forms.ModelForm
        return super().get_form(request, obj, change=change, **kwargs)

    @admin.display(description="Scopes")
    def scope_list(self, obj) -> str:
        return ", ".join(obj.scopes)

    @admin.display(boolean=True, description="Active")
    def active(self, obj) -> bool:
        return obj.is_active

    def save_model(self, request, obj, form, change):
        if change:
            return
        # Through the service, like the command line: the same checks and the same audit entry.
        new = api_key_create(
            name=obj.name, scopes=obj.scopes, form_name=obj.form_name, user=obj.user, created_by=request.user
        )
        obj.pk, obj.prefix, obj.key_hash = new.api_key.pk, new.api_key.prefix, new.api_key.key_hash
        obj.created_by = request.user
        obj._state.adding = False
        messages.warning(request, f"The new key (shown only this once, store it now): {new.raw_key}")

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        ids = list(queryset.filter(revoked_at__isnull=True).values_list("pk", flat=True))
        revoked = sum(api_key_revoke(api_key_id=pk, actor=request.user) for pk in ids)
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the key's history (submissions it sent) keeps its name
