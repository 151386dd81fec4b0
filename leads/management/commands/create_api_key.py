"""manage.py create_api_key NAME --scope submit --scope read: prints the key once."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from leads.api.auth import api_key_create
from leads.models import ApiKey


class Command(BaseCommand):
    help = "Create an API key for an integration (or a personal token with --user) and print it once."

    def add_arguments(self, parser):
        parser.add_argument("name", help="What the key is for, e.g. 'Website forms'.")
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            choices=[scope.value for scope in ApiKey.Scope],
            required=True,
            help="submit, read or write; repeat for several.",
        )
        parser.add_argument("--form", default="", help="Restrict the key to submissions of this form.")
        parser.add_argument("--user", default="", help="Make it a personal token acting as this username.")

    def handle(self, *args, name, scopes, form, user, **options):
        person = None
        if user:
            person = get_user_model().objects.filter(username=user).first()
            if person is None:
                raise CommandError(f"No user {user!r}.")
        new = api_key_create(
            name=name, scopes=scopes, form_name=form, user=person, actor_label="manage.py create_api_key"
        )
        self.stderr.write(f"Created API key {new.api_key} with scopes {', '.join(new.api_key.scopes)}.")
        self.stderr.write("Store it now: it is shown only this once.")
        self.stdout.write(new.raw_key)
