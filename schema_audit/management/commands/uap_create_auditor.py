"""`manage.py uap_create_auditor USERNAME`: a staff user who may only view the audit admin."""

from __future__ import annotations

import secrets
import sys

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, transaction

from schema_audit.engine.approvals import APPROVERS_GROUP
from schema_audit.ledger.access import ACCESS_ADMINS_GROUP

GROUP = "Schema auditors"
PERMISSIONS = ("view_schemamigration", "view_migrationevent")


def auditor_group(database: str) -> Group:
    """The "Schema auditors" group, holding exactly the two view permissions."""
    # Permissions are created after `migrate`; make sure they exist even if that ran quietly.
    create_permissions(apps.get_app_config("schema_audit"), verbosity=0, using=database)
    group, _ = Group.objects.using(database).get_or_create(name=GROUP)
    found = Permission.objects.using(database).filter(
        content_type__app_label="schema_audit", codename__in=PERMISSIONS
    )
    group.permissions.set(found)
    return group


class Command(BaseCommand):
    help = (
        "Create a staff user in the 'Schema auditors' group (view-only access to the schema "
        "audit admin). An existing user is moved into the group; its password is kept unless "
        "--password-stdin is given. With django-axes installed, re-running it also clears the "
        "account's login lockout (as `manage.py axes_reset_username USER` does)."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of standard input (also resets it)",
        )
        parser.add_argument("--email", default="", help="e-mail address of a new user")
        parser.add_argument("--database", default="default", help="Django database alias")
        parser.add_argument(
            "--approver",
            action="store_true",
            help=f'also add the user to "{APPROVERS_GROUP}": may approve pending files',
        )
        parser.add_argument(
            "--access-admin",
            action="store_true",
            help=f'also add the user to "{ACCESS_ADMINS_GROUP}": may read the access log',
        )

    def handle(self, *args, username, password_stdin, email, database, **options):
        extra = [APPROVERS_GROUP] * options["approver"] + [ACCESS_ADMINS_GROUP] * options[
            "access_admin"
        ]
        password = self._read_password(options.get("stdin") or sys.stdin) if password_stdin else ""
        try:
            with transaction.atomic(using=database):
                created, generated = self._save(username, password, email, database, extra)
        except DatabaseError as exc:
            raise CommandError(
                f"cannot write users ({exc}); run `python manage.py migrate` first", returncode=2
            ) from exc
        verb = "Created" if created else "Updated"
        self.stdout.write(f'{verb} auditor "{username}" in group "{GROUP}" (view-only).')
        for name in extra:
            self.stdout.write(f'Also in group "{name}".')
        if not created and apps.is_installed("axes"):
            from axes.utils import reset

            if reset(username=username):
                self.stdout.write(f'Login lockout cleared for "{username}".')
        if generated:
            self.stdout.write(f"Generated password (shown only this once): {generated}")
        elif password:
            self.stdout.write("Password set from standard input.")
        else:
            self.stdout.write(
                "Password unchanged (it was shown when the user was created). "
                f"Reset it with --password-stdin or `manage.py changepassword {username}`."
            )

    def _read_password(self, stream) -> str:
        password = stream.readline().rstrip("\r\n")
        if not password:
            raise CommandError("--password-stdin: standard input is empty", returncode=2)
        return password

    def _save(self, username: str, password: str, email: str, database: str, extra=()):
        """Create or update the user; returns (created, generated password or '')."""
        users = get_user_model()._default_manager.db_manager(database)
        user = users.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        created = user is None
        if created:
            user = users.model(**{get_user_model().USERNAME_FIELD: username}, email=email)
        elif user.is_superuser:
            raise CommandError(
                f'"{username}" is a superuser; an auditor account must be a separate, '
                "view-only user",
                returncode=2,
            )
        generated = secrets.token_urlsafe(15) if created and not password else ""
        if password:
            try:
                validate_password(password, user)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages), returncode=2) from exc
        if password or generated:
            user.set_password(password or generated)
        user.is_staff, user.is_active = True, True
        user.save(using=database)
        # Only what the group grants: view the two audit tables, nothing else.
        user.user_permissions.clear()
        groups = [Group.objects.using(database).get_or_create(name=name)[0] for name in extra]
        user.groups.set([auditor_group(database), *groups])
        return created, generated
