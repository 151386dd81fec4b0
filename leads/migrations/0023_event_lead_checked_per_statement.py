"""An event's lead is checked once per statement, not once per row (issue 9).

The events' foreign key to their lead ran one check per inserted row at commit: a query through
SPI, an index probe and a row lock, ~9-10 us each. For a batch of 1,000 events that was ~10 ms of
PostgreSQL's ~35 ms (a sixth of the batch's CPU, web and database together). The constraint is
replaced by statement-level triggers with transition tables that keep the same guarantee with one
set-based query per statement:

- INSERT or UPDATE of events: every lead they name must exist, and is locked FOR KEY SHARE until
  the transaction ends (what the foreign key's check takes), in id order; a lead deleted by a
  concurrent transaction that committed first counts as missing;
- DELETE of leads: no event may still name one of them. A deletion waits for the batches that
  locked the lead, then sees their events (the check runs after the DELETE, on a fresh snapshot
  under READ COMMITTED, which is what the app runs);
- TRUNCATE of the leads table: refused while events are left (the foreign key refused a TRUNCATE
  without CASCADE; truncate both tables in one statement).

The errors are foreign_key_violation (SQLSTATE 23503), an IntegrityError in Django. Two things
the foreign key did are not repeated: a lead's id changing (Django never updates a primary key)
and the check waiting until commit (the triggers check at the end of each statement, and every
writer here creates a lead before its events and deletes events before their lead). Django's
ORM still cascades a lead's deletion to its events (on_delete=CASCADE), as before.

A single event pays a little more (a PL/pgSQL call and a transition table: +~0.05 ms for a
one-row insert, measured); a batch of 1,000 pays ~7 ms less. On SQLite (development), row-level
triggers refuse an event naming no lead, as its foreign key did.
"""

from django.db import migrations, models

EVENTS = "leads_engagementevent"
LEADS = "leads_lead"

POSTGRESQL = f"""
CREATE FUNCTION leads_event_leads_exist() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing bigint;
BEGIN
    SELECT n.lead_id INTO missing
    FROM (SELECT DISTINCT lead_id FROM new_events ORDER BY lead_id) AS n
    LEFT JOIN LATERAL (
        SELECT true AS found FROM {LEADS} AS l WHERE l.id = n.lead_id FOR KEY SHARE OF l
    ) AS f ON true
    WHERE f.found IS NULL
    LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('insert or update on table "{EVENTS}" names lead %s, which does not exist', missing),
            TABLE = '{EVENTS}', CONSTRAINT = 'event_lead_exists';
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION leads_lead_without_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    referenced bigint;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        SELECT lead_id INTO referenced FROM {EVENTS} LIMIT 1;
    ELSE
        SELECT o.id INTO referenced FROM old_leads AS o
        WHERE EXISTS (SELECT 1 FROM {EVENTS} AS e WHERE e.lead_id = o.id)
        LIMIT 1;
    END IF;
    IF FOUND THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('%s on table "{LEADS}" would leave events of lead %s', lower(TG_OP), referenced),
            TABLE = '{LEADS}', CONSTRAINT = 'event_lead_exists';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER event_leads_exist_insert AFTER INSERT ON {EVENTS}
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION leads_event_leads_exist();
CREATE TRIGGER event_leads_exist_update AFTER UPDATE ON {EVENTS}
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT EXECUTE FUNCTION leads_event_leads_exist();
CREATE TRIGGER lead_without_events_delete AFTER DELETE ON {LEADS}
    REFERENCING OLD TABLE AS old_leads FOR EACH STATEMENT EXECUTE FUNCTION leads_lead_without_events();
CREATE TRIGGER lead_without_events_truncate AFTER TRUNCATE ON {LEADS}
    FOR EACH STATEMENT EXECUTE FUNCTION leads_lead_without_events();
"""

POSTGRESQL_REVERSE = f"""
DROP TRIGGER IF EXISTS event_leads_exist_insert ON {EVENTS};
DROP TRIGGER IF EXISTS event_leads_exist_update ON {EVENTS};
DROP TRIGGER IF EXISTS lead_without_events_delete ON {LEADS};
DROP TRIGGER IF EXISTS lead_without_events_truncate ON {LEADS};
DROP FUNCTION IF EXISTS leads_event_leads_exist();
DROP FUNCTION IF EXISTS leads_lead_without_events();
"""

SQLITE = [
    f"""CREATE TRIGGER event_leads_exist_insert BEFORE INSERT ON {EVENTS}
    WHEN NOT EXISTS (SELECT 1 FROM {LEADS} WHERE id = NEW.lead_id)
    BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: an event names a lead that does not exist'); END""",
    f"""CREATE TRIGGER event_leads_exist_update BEFORE UPDATE OF lead_id ON {EVENTS}
    WHEN NOT EXISTS (SELECT 1 FROM {LEADS} WHERE id = NEW.lead_id)
    BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed: an event names a lead that does not exist'); END""",
]

SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS event_leads_exist_insert",
    "DROP TRIGGER IF EXISTS event_leads_exist_update",
]


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL, params=None)  # no placeholders: format()'s %s stays
    elif vendor == "sqlite":
        for statement in SQLITE:
            schema_editor.execute(statement, params=None)


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_REVERSE, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_REVERSE:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0022_pending_activity_lead_count_help"),
    ]

    operations = [
        migrations.AlterField(
            model_name="engagementevent",
            name="lead",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=models.deletion.CASCADE,
                related_name="events",
                to="leads.lead",
            ),
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
