"""Create the default rule set as published version 1, so a fresh install scores leads."""

from django.db import migrations
from django.utils import timezone

# The definitions live in scoring/defaults.py (plain data, no models), shared with
# ruleset_ensure_published() which recreates them on a database emptied by a test flush.
from scoring.defaults import DEFAULT_ENGAGEMENT_RULES, DEFAULT_FIT_RULES, DEFAULT_THRESHOLDS


def create_default_ruleset(apps, schema_editor):
    RuleSet = apps.get_model("scoring", "RuleSet")
    EngagementRule = apps.get_model("scoring", "EngagementRule")
    FitRule = apps.get_model("scoring", "FitRule")
    if RuleSet.objects.filter(status="published").exists():
        return
    ruleset = RuleSet.objects.create(status="published", version=1, published_at=timezone.now(), **DEFAULT_THRESHOLDS)
    EngagementRule.objects.bulk_create(
        EngagementRule(ruleset=ruleset, position=position, **rule)
        for position, rule in enumerate(DEFAULT_ENGAGEMENT_RULES)
    )
    FitRule.objects.bulk_create(
        FitRule(ruleset=ruleset, position=position, **rule) for position, rule in enumerate(DEFAULT_FIT_RULES)
    )


def remove_default_ruleset(apps, schema_editor):
    apps.get_model("scoring", "RuleSet").objects.filter(version=1).delete()


class Migration(migrations.Migration):
    dependencies = [("scoring", "0001_initial")]

    operations = [migrations.RunPython(create_default_ruleset, remove_default_ruleset)]
