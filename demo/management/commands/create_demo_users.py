"""Create (or reset) one demo login per role and print the logins.

Every run sets a new random password per account, so a printed password is only ever
valid for the latest run. CI reads the printed lines with the regex
`^\\s*(\\w+)\\s+login:\\s+(\\S+)\\s+password:\\s+(\\S+)`; keep the format.
"""

import secrets

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction
from rest_framework.authtoken.models import Token

from crm.core.permissions import ANALYST, INTEGRATION, MARKETER, SUPPORT

# (login, role group, is_staff, is_superuser)
DEMO_ACCOUNTS = (
    ("admin", None, True, True),
    ("marketer", MARKETER, False, False),
    ("analyst", ANALYST, False, False),
    ("support", SUPPORT, True, False),
    ("integration", INTEGRATION, False, False),
)


class Command(BaseCommand):
    help = "Create or reset the demo users (one per role) with fresh random passwords."

    @transaction.atomic
    def handle(self, *args, **options):
        lines = []
        tokens = {}
        for username, role, is_staff, is_superuser in DEMO_ACCOUNTS:
            password = secrets.token_urlsafe(12)
            user, _ = User.objects.get_or_create(username=username)
            user.is_active = True
            user.is_staff = is_staff
            user.is_superuser = is_superuser
            user.set_password(password)
            user.save()
            user.groups.set([Group.objects.get(name=role)] if role else [])
            if role in (INTEGRATION, MARKETER):
                # A new token on every run, like the password: an old printout stops working.
                Token.objects.filter(user=user).delete()
                tokens[username] = Token.objects.create(user=user).key
            lines.append(f"  {username:<12}login: {username:<12}password: {password}")
        self.stdout.write("Demo logins (new passwords on every run):")
        for line in lines:
            self.stdout.write(line)
        for username, key in tokens.items():
            self.stdout.write(f"  {username} API token: {key}")
