"""Admin of data in and out (issue 7): webhook endpoints and their delivery log, erasure records."""

from django import forms
from django.contrib import admin, messages

from .models import Erasure, WebhookDelivery, WebhookEndpoint, WebhookEvent
from .webhooks import webhook_endpoint_resume


class WebhookEndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple, help_text="What it receives."
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "secret", "events", "active"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ["name", "url", "active", "paused_at", "pause_reason", "consecutive_failures"]
    list_filter = ["active"]
    readonly_fields = ["paused_at", "pause_reason", "consecutive_failures", "created_at"]
    actions = ["resume"]

    @admin.action(description="Resume (send the held deliveries)")
    def resume(self, request, queryset):
        held = sum(webhook_endpoint_resume(endpoint_id=endpoint.pk) for endpoint in queryset)
        self.message_user(request, f"Resumed; {held} held deliveries queued.", messages.SUCCESS)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "endpoint", "event", "status", "attempts", "last_status_code", "last_response_ms"]
    list_filter = ["status", "event", "endpoint"]
    list_select_related = ["endpoint"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Erasure)
class ErasureAdmin(admin.ModelAdmin):
    list_display = ["created_at", "lead_id_erased", "erased_by", "erased_by_label", "reason", "suppressed"]
    readonly_fields = [f.name for f in Erasure._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
