"""python -m tests.faults.score_check EMAIL_SUFFIX: every lead whose email ends so, its stored score
against a from-scratch recompute (tests/scoring/helpers.py), as JSON on stdout.

Run by the fault tests in a subprocess against the fault stack's own database (DATABASE_URL).
"""

import json
import os
import sys

import django


def main(suffix: str) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadcrm.settings")
    django.setup()
    from leads.activity import score_is_stale
    from leads.models import Lead
    from tests.scoring.helpers import from_scratch

    leads = list(Lead.objects.filter(email__endswith=suffix).order_by("email"))
    mismatches = []
    for lead in leads:
        if lead.scored_at is None or score_is_stale(lead):
            mismatches.append({"email": lead.email, "problem": "not scored", "stale": score_is_stale(lead)})
            continue
        expected = from_scratch(lead)
        stored = (lead.fit_score, lead.engagement_score, lead.score, lead.score_breakdown)
        if stored != (expected.fit, expected.engagement, expected.total, expected.breakdown):
            mismatches.append(
                {
                    "email": lead.email,
                    "stored": [lead.fit_score, lead.engagement_score, lead.score],
                    "expected": [expected.fit, expected.engagement, expected.total],
                }
            )
    return {"leads": len(leads), "mismatches": mismatches}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
