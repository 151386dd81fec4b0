"""Create the four role groups and give each the model permissions its work needs."""

from django.db import migrations

ROLE_PERMISSIONS = {
    "marketing": [
        "view_lead",
        "change_lead",
        "add_lead",
        "view_stagechange",
        "view_handoff",
        "add_handoff",
        "view_note",
        "add_note",
        "view_submission",
        "view_engagementevent",
    ],
    "sales": [
        "view_lead",
        "change_lead",
        "view_stagechange",
        "view_handoff",
        "change_handoff",
        "view_note",
        "add_note",
        "view_submission",
        "view_engagementevent",
    ],
    "service": [
        "view_lead",
        "view_stagechange",
        "view_handoff",
        "add_handoff",
        "view_note",
        "add_note",
        "view_engagementevent",
    ],
    "admin": None,  # every permission of the leads app
}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after migrations; make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = Permission.objects.filter(content_type__app_label="leads")
        if codenames is not None:
            perms = perms.filter(codename__in=codenames)
        group.permissions.set(perms)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_PERMISSIONS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("leads", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
