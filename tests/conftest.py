"""Shared fixtures: users per role, API clients, a fixed `as_of`."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

ROLES = ("marketer", "analyst", "support", "integration")


@pytest.fixture
def as_of():
    """A fixed 'now' so every window and stage is reproducible."""
    return datetime(2026, 6, 30, 12, 0, tzinfo=ZoneInfo("UTC"))


def make_user(role: str | None, *, superuser: bool = False) -> User:
    username = role or "admin"
    user = User.objects.create_user(
        username=username,
        password="pw-" + username,
        is_superuser=superuser,
        is_staff=superuser or role == "support",
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def marketer(db):
    return make_user("marketer")


@pytest.fixture
def analyst(db):
    return make_user("analyst")


@pytest.fixture
def support(db):
    return make_user("support")


@pytest.fixture
def integration(db):
    return make_user("integration")


@pytest.fixture
def admin_user(db):
    return make_user(None, superuser=True)


def token_client(user: User) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def marketer_api(marketer):
    return token_client(marketer)


@pytest.fixture
def integration_api(integration):
    return token_client(integration)


@pytest.fixture
def analyst_api(analyst):
    return token_client(analyst)
