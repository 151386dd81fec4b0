"""URLs of the sales and service workspaces and of the notifications in the top bar."""

from django.urls import path

from . import sales_views, service_views

urlpatterns = [
    path("sales/queue/", sales_views.queue, name="sales-queue"),
    path("sales/queue/<int:handoff_id>/claim/", sales_views.claim, name="sales-claim"),
    path("sales/queue/<int:handoff_id>/pass/", sales_views.pass_offer, name="sales-pass"),
    path("sales/my-leads/", sales_views.my_leads, name="sales-my-leads"),
    path("sales/leads/<int:lead_id>/reject/", sales_views.reject, name="sales-reject"),
    path("sales/leads/<int:lead_id>/release/", sales_views.release, name="sales-release"),
    path("sales/leads/<int:lead_id>/close/", sales_views.close_won, name="sales-close"),
    path("sales/leads/<int:lead_id>/next-step/", sales_views.next_step, name="sales-next-step"),
    path("service/find/", service_views.search, name="service-search"),
    path("service/leads/<int:lead_id>/flag/", service_views.flag_upgrade, name="service-flag"),
    path("service/flags/", service_views.my_flags, name="service-flags"),
    path("service/pqls/", service_views.pql_list, name="service-pqls"),
    path("notifications/<int:notification_id>/", sales_views.notification_open, name="notification-open"),
    path("notifications/read/", sales_views.notifications_read_all, name="notifications-read-all"),
]
