"""API token authentication that also reads the user's roles, in one query.

DRF's TokenAuthentication reads the token and its user; the role check of
crm.core.permissions.has_role() then asks for the user's groups: two round trips before a
view runs. Every claim pays them (POST /api/v1/claims/ is the hot path, see
bench/bench_claims.py), so the roles come with the token here and has_role() uses them.
"""

from django.contrib.auth.models import Group
from django.db.models import Exists, OuterRef
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from crm.core.permissions import ROLES


class RoleTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`; the user comes with `role_names` already read."""

    def authenticate_credentials(self, key):
        in_role = {
            role: Exists(Group.objects.filter(user=OuterRef("user_id"), name=role))
            for role in ROLES
        }
        token = (
            Token.objects.select_related("user")
            .annotate(**{f"in_{role}": condition for role, condition in in_role.items()})
            .filter(key=key)
            .first()
        )
        if token is None:
            raise AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        token.user.role_names = frozenset(role for role in ROLES if getattr(token, f"in_{role}"))
        return token.user, token
