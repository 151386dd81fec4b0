"""The default rule set, created as version 1 by a data migration so a fresh install scores leads.

Plain data (no models): the data migration and scoring.services.ruleset_ensure_published() both
read it. Points are chosen so that a good-fit lead who reads a few pages, downloads content and
attends a webinar (about 60) becomes an MQL, and a trial with regular product use a PQL.
"""

DEFAULT_THRESHOLDS = {
    "name": "Default rules",
    "mql_threshold": 60,
    "pql_threshold": 40,
    "pql_event_types": ["trial_started", "product_active_day", "feature_used", "usage_limit_reached"],
    "high_intent_event_types": ["demo_request", "contact_sales"],
}

DEFAULT_FIT_RULES = [
    {
        "name": "Senior title",
        "kind": "job_title_contains",
        "values": ["chief", "cto", "ceo", "cmo", "vp", "vice president", "head of", "director", "founder"],
        "points": 15,
    },
    {"name": "Manager title", "kind": "job_title_contains", "values": ["manager", "lead"], "points": 5},
    {"name": "Student or intern", "kind": "job_title_contains", "values": ["student", "intern"], "points": -15},
    {"name": "Company of 50+", "kind": "company_size_at_least", "threshold": 50, "points": 10},
    {"name": "Company of 1,000+", "kind": "company_size_at_least", "threshold": 1000, "points": 5},
    {
        "name": "Target industry",
        "kind": "industry_in",
        "values": ["Software", "SaaS", "Technology", "Financial Services", "E-commerce"],
        "points": 10,
    },
    {
        "name": "Core market",
        "kind": "country_in",
        "values": ["US", "CA", "GB", "IE", "DE", "FR", "NL", "SE", "AU"],
        "points": 5,
    },
    {"name": "Free-mail address", "kind": "email_free_mail", "values": [], "points": -10},
    {"name": "Competitor", "kind": "email_competitor", "values": [], "points": -50},
]

DEFAULT_ENGAGEMENT_RULES = [
    {"name": "Page view", "event_type": "page_view", "points": 1, "cap": 15, "half_life_days": 30},
    {
        "name": "Pricing page view",
        "event_type": "page_view",
        "property_key": "url",
        "property_operator": "contains",
        "property_value": "/pricing",
        "points": 5,
        "cap": 15,
        "half_life_days": 30,
    },
    {"name": "Pricing page", "event_type": "pricing_page_view", "points": 5, "cap": 15, "half_life_days": 30},
    {"name": "Email open", "event_type": "email_open", "points": 1, "cap": 10, "half_life_days": 30},
    {"name": "Email click", "event_type": "email_click", "points": 3, "cap": 15, "half_life_days": 30},
    {"name": "Content download", "event_type": "content_download", "points": 8, "cap": 24, "half_life_days": 60},
    {"name": "Webinar registration", "event_type": "webinar_registered", "points": 5, "cap": 10, "half_life_days": 60},
    {"name": "Webinar attended", "event_type": "webinar_attended", "points": 10, "cap": 20, "half_life_days": 60},
    {"name": "Form submitted", "event_type": "form_submitted", "points": 5, "cap": 15, "half_life_days": 60},
    {"name": "Demo request", "event_type": "demo_request", "points": 30, "cap": 30},
    {"name": "Contact sales", "event_type": "contact_sales", "points": 30, "cap": 30},
    {"name": "Trial started", "event_type": "trial_started", "points": 15, "cap": 15},
    {"name": "Product active day", "event_type": "product_active_day", "points": 5, "cap": 40, "half_life_days": 30},
    {"name": "Feature used", "event_type": "feature_used", "points": 3, "cap": 30, "half_life_days": 30},
    {"name": "Usage limit reached", "event_type": "usage_limit_reached", "points": 20, "cap": 20, "half_life_days": 30},
    {"name": "Upgrade interest", "event_type": "upgrade_interest", "points": 20, "cap": 20, "half_life_days": 60},
    {"name": "Unsubscribed", "event_type": "unsubscribe", "points": -20, "cap": 20},
]
