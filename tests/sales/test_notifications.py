"""The top bar's notifications (leads.sales_selectors.notifications_for, one plain statement)."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from leads.models import Notification
from leads.sales_selectors import notifications_for
from tests.factories import UserFactory


def notify(user, text: str, *, minutes_ago: int, read: bool = False) -> Notification:
    notification = Notification.objects.create(recipient=user, text=text, url="/somewhere/")
    created = timezone.now() - timedelta(minutes=minutes_ago)
    Notification.objects.filter(pk=notification.pk).update(created_at=created, read_at=created if read else None)
    notification.refresh_from_db()
    return notification


def test_newest_first_with_the_unread_count_and_the_stored_values(sales_rep):
    old = notify(sales_rep, "Old, read", minutes_ago=90, read=True)
    new = notify(sales_rep, "New", minutes_ago=5)
    middle = notify(sales_rep, "Middle", minutes_ago=30)
    notify(UserFactory(roles=["sales"]), "Someone else's", minutes_ago=1)
    items, unread = notifications_for(user=sales_rep)
    assert [item.pk for item in items] == [new.pk, middle.pk, old.pk]
    assert unread == 2
    for item, stored in zip(items, [new, middle, old], strict=True):
        assert (item.text, item.url, item.recipient_id, item.created_at, item.read_at) == (
            stored.text,
            stored.url,
            stored.recipient_id,
            stored.created_at,
            stored.read_at,
        )
        assert item.created_at.tzinfo is not None


def test_the_limit_keeps_the_newest_and_the_count_counts_them_all(sales_rep):
    for minutes in range(5):
        notify(sales_rep, f"{minutes} minutes ago", minutes_ago=minutes)
    items, unread = notifications_for(user=sales_rep, limit=2)
    assert [item.text for item in items] == ["0 minutes ago", "1 minutes ago"]
    assert unread == 5


def test_none_means_no_unread_one(sales_rep):
    assert notifications_for(user=sales_rep) == ([], 0)


def test_the_top_bar_shows_them_with_their_times(client, sales_rep):
    notify(sales_rep, "Handoff past its SLA", minutes_ago=30)
    notify(sales_rep, "Read already", minutes_ago=120, read=True)
    client.force_login(sales_rep)
    html = client.get(reverse("home")).content.decode()
    assert 'data-testid="notif-count">1<' in html
    assert "Handoff past its SLA" in html and "30\xa0minutes ago" in html
    assert html.count("is-unread") == 1
