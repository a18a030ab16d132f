"""`manage.py create_demo_users`: one login per role, printed in the format CI parses."""

import io
import re

from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.authtoken.models import Token

# The regex .ci/demo_login.py reads the printed logins with.
LOGIN_LINE = r"^\s*(\w+)\s+login:\s+(\S+)\s+password:\s+(\S+)"


def run_command() -> str:
    out = io.StringIO()
    call_command("create_demo_users", stdout=out)
    return out.getvalue()


def test_prints_one_working_login_per_role(db):
    # when
    printed = run_command()

    # then
    logins = re.findall(LOGIN_LINE, printed, re.MULTILINE)
    assert [(role, user) for role, user, _ in logins] == [
        ("admin", "admin"),
        ("marketer", "marketer"),
        ("analyst", "analyst"),
        ("support", "support"),
        ("integration", "integration"),
    ]
    for _, username, password in logins:
        assert authenticate(username=username, password=password) is not None
    roles = {
        user.username: (list(user.groups.values_list("name", flat=True)), user.is_staff)
        for user in User.objects.all()
    }
    assert roles == {
        "admin": ([], True),
        "marketer": (["marketer"], False),
        "analyst": (["analyst"], False),
        "support": (["support"], True),
        "integration": (["integration"], False),
    }
    assert User.objects.get(username="admin").is_superuser is True
    token = Token.objects.get(user__username="integration")
    assert f"  integration API token: {token.key}\n" in printed


def test_rerun_resets_passwords_and_the_token(db):
    # given
    first = {user: pw for _, user, pw in re.findall(LOGIN_LINE, run_command(), re.M)}
    first_token = Token.objects.get(user__username="integration").key

    # when
    second = {user: pw for _, user, pw in re.findall(LOGIN_LINE, run_command(), re.M)}

    # then
    assert User.objects.count() == 5
    for username in second:
        assert second[username] != first[username]
        assert authenticate(username=username, password=first[username]) is None
        assert authenticate(username=username, password=second[username]) is not None
    assert Token.objects.get(user__username="integration").key != first_token
