"""Roles of SPEC §7 and the permission checks pages and the API share.

The roles are Django groups created by a migration (crm/migrations/0002_roles.py); a
user's role is the group they belong to, superusers can do everything.
"""

from django.contrib.auth.mixins import AccessMixin
from rest_framework.permissions import BasePermission

MARKETER = "marketer"
ANALYST = "analyst"
SUPPORT = "support"
INTEGRATION = "integration"

# Which roles may open which area of the site.
READ_ROLES = frozenset({MARKETER, ANALYST})
WRITE_ROLES = frozenset({MARKETER})
INGEST_ROLES = frozenset({MARKETER, INTEGRATION})
# One customer's profile and coupons (SPEC §5, §7): support tools and the shop's "my
# coupons" page read them too, besides the people who read the marketing data.
CUSTOMER_READ_ROLES = frozenset({MARKETER, ANALYST, SUPPORT, INTEGRATION})

PII_PERMISSION = "crm.view_customer_pii"


def has_role(user, roles: frozenset[str]) -> bool:
    """True if the user is active and a superuser or in one of `roles`."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if (known := getattr(user, "role_names", None)) is not None:
        return not known.isdisjoint(roles)  # read with the API token
    return user.groups.filter(name__in=roles).exists()


def can_see_pii(user) -> bool:
    """Phone and e-mail are shown unmasked only with the PII permission (SPEC §9)."""
    return user.is_authenticated and user.has_perm(PII_PERMISSION)


class RoleRequiredMixin(AccessMixin):
    """Page mixin: the user must hold one of `allowed_roles` (403 otherwise)."""

    allowed_roles: frozenset[str] = READ_ROLES

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not has_role(request.user, self.allowed_roles):
            self.raise_exception = True
            return self.handle_no_permission()
        return super().dispatch(request, *args, **kwargs)


class HasRole(BasePermission):
    """DRF permission: the view lists `allowed_roles`; safe methods may use `read_roles`."""

    def has_permission(self, request, view) -> bool:
        roles = getattr(view, "allowed_roles", WRITE_ROLES)
        if request.method in ("GET", "HEAD", "OPTIONS"):
            roles = getattr(view, "read_roles", roles)
        return has_role(request.user, roles)
