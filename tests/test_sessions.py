"""leadcrm.sessions: Django's database sessions, read with a plain statement."""

from datetime import timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.urls import reverse
from django.utils import timezone

from leadcrm.sessions import SessionStore


def test_the_app_reads_its_sessions_through_it():
    assert settings.SESSION_ENGINE == "leadcrm.sessions"


def test_a_signed_in_session_keeps_the_user_signed_in(client, marketer):
    client.force_login(marketer)
    assert client.get(reverse("mql-list")).status_code == 200
    session = SessionStore(client.session.session_key)
    assert session["_auth_user_id"] == str(marketer.pk)


def test_it_reads_what_django_wrote(db):
    written = SessionStore()
    written["colour"] = "blue"
    written.create()
    read = SessionStore(written.session_key)
    assert read["colour"] == "blue"
    assert read.session_key == written.session_key


def test_an_expired_session_signs_the_user_out(client, marketer):
    client.force_login(marketer)
    Session.objects.filter(pk=client.session.session_key).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("mql-list"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_an_unknown_session_key_reads_as_empty_and_gets_a_new_key_when_saved(db):
    session = SessionStore("no-such-session-key-0123456789ab")
    assert dict(session.items()) == {}
    session["colour"] = "blue"
    session.save()
    assert session.session_key != "no-such-session-key-0123456789ab"
    assert SessionStore(session.session_key)["colour"] == "blue"


def test_after_logout_the_old_cookie_signs_nobody_in(client, marketer):
    client.force_login(marketer)
    old_key = client.session.session_key
    client.post(reverse("logout"))
    assert not Session.objects.filter(pk=old_key).exists()
    client.cookies[settings.SESSION_COOKIE_NAME] = old_key
    assert client.get(reverse("mql-list")).status_code == 302
