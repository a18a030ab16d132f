"""API tokens: the user and their roles come in one query; bad and inactive tokens are 401."""

import pytest
from django.contrib.auth.models import Group
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.conftest import token_client

pytestmark = pytest.mark.django_db

CUSTOMERS = "/api/v1/customers/bulk/"


def test_unknown_token_is_401_with_the_reason():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    response = client.post(CUSTOMERS, {"items": []}, format="json")
    assert (response.status_code, response.json()) == (401, {"detail": "Invalid token."})


def test_token_of_an_inactive_user_is_401(integration):
    # given
    client = token_client(integration)
    integration.is_active = False
    integration.save(update_fields=["is_active"])
    # when
    response = client.post(CUSTOMERS, {"items": []}, format="json")
    # then
    assert (response.status_code, response.json()) == (
        401,
        {"detail": "User inactive or deleted."},
    )


def test_roles_read_with_the_token_follow_group_changes(analyst):
    # given: an analyst may not ingest
    client = token_client(analyst)
    assert client.post(CUSTOMERS, {"items": []}, format="json").status_code == 403
    # when: the analyst is also made an integration
    analyst.groups.add(Group.objects.get(name="integration"))
    # then: the next request reads the new role
    response = client.post(CUSTOMERS, {"items": []}, format="json")
    assert (response.status_code, response.json()) == (
        200,
        {"created": 0, "updated": 0, "unchanged": 0, "refused": 0, "errors": []},
    )


def test_user_without_any_role_is_refused(django_user_model):
    user = django_user_model.objects.create_user(username="nobody", password="pw")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert client.post(CUSTOMERS, {"items": []}, format="json").status_code == 403
