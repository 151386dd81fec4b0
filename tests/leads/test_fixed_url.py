"""{% fixed_url %} (leads/templatetags/ui.py): {% url %} for pages without arguments, reversed once per process."""

import pytest
from django.template import Context, Template
from django.urls import NoReverseMatch, clear_script_prefix, reverse, set_script_prefix


def render(text: str) -> str:
    return Template("{% load ui %}" + text).render(Context())


@pytest.mark.parametrize("url_name", ["home", "search", "logout", "mql-list", "mql-export", "notifications-read-all"])
def test_it_writes_what_url_writes(url_name):
    assert render(f"{{% fixed_url '{url_name}' %}}") == render(f"{{% url '{url_name}' %}}") == reverse(url_name)


def test_an_unknown_name_fails_as_url_does():
    with pytest.raises(NoReverseMatch):
        render("{% fixed_url 'no-such-page' %}")


def test_it_follows_the_script_prefix():
    set_script_prefix("/crm/")
    try:
        assert render("{% fixed_url 'mql-list' %}") == "/crm/marketing/mqls/"
    finally:
        clear_script_prefix()
    assert render("{% fixed_url 'mql-list' %}") == "/marketing/mqls/"
