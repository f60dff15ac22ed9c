import functools

from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    CLIENT = "client", "Client"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Admin"
    SUPERADMIN = "superadmin", "Superadmin"


ROLE_RANK = {Role.CLIENT: 0, Role.OPERATOR: 1, Role.ADMIN: 2, Role.SUPERADMIN: 3}

_ALL = ("view", "add", "change", "delete")
# What each role may do in the Django admin (SPEC "Roles"), on top of what the
# roles below it may; a superadmin is a Django superuser and may do anything.
# Operators read stations and sessions; admins also manage stations, tariffs,
# id tags and users (UserAdmin narrows that to clients and operators).
# Billing records (sessions, transactions, meter values) stay read-only below
# superadmin: they are history, changed only through the API's services.
_ROLE_ADMIN_GRANTS = {
    Role.OPERATOR: {
        "stations.station": ("view",),
        "stations.connector": ("view",),
        "stations.statusrecord": ("view",),
        "stations.stationevent": ("view",),
        "stations.protocolviolation": ("view",),
        "stations.messagelog": ("view",),
        "stations.idtag": ("view",),
        "billing.tariff": ("view",),
        "billing.session": ("view",),
        "billing.transaction": ("view",),
        "billing.metervalue": ("view",),
    },
    Role.ADMIN: {
        "stations.station": _ALL,
        "stations.idtag": _ALL,
        "billing.tariff": _ALL,
        "evpower.user": _ALL,
    },
}


@functools.cache
def role_permissions(role: str) -> frozenset[str]:
    """The Django permission names ("stations.view_station") that `role` holds by itself."""
    perms = set()
    for granted_role, grants in _ROLE_ADMIN_GRANTS.items():
        if ROLE_RANK[Role(role)] >= ROLE_RANK[granted_role]:
            for label, actions in grants.items():
                app_label, model = label.split(".")
                perms.update(f"{app_label}.{action}_{model}" for action in actions)
    return frozenset(perms)


class User(AbstractUser):
    """An account; its role decides what it may do (SPEC "Roles")."""

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CLIENT)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._remember_saved_flags()

    def _remember_saved_flags(self) -> None:
        # Read from __dict__ so that a deferred field does not cost a query.
        self._saved_role = self.__dict__.get("role")
        self._saved_is_superuser = self.__dict__.get("is_superuser")

    def refresh_from_db(self, *args, **kwargs):
        super().refresh_from_db(*args, **kwargs)
        self._remember_saved_flags()

    def save(self, *args, **kwargs):
        self._sync_role_and_flags()
        super().save(*args, **kwargs)
        self._remember_saved_flags()

    def _sync_role_and_flags(self) -> None:
        """Keep `is_superuser`/`is_staff` and the role from ever disagreeing.

        The role is the source of truth, except when only `is_superuser` was
        changed (`createsuperuser`, the Django admin checkbox): then the role
        follows it, so a Django superuser is always a superadmin.
        """
        if self._state.adding:
            superuser_changed = self.is_superuser
            role_changed = False
        else:
            superuser_changed = self._saved_is_superuser not in (None, self.is_superuser)
            role_changed = self._saved_role not in (None, self.role)
        if superuser_changed and not role_changed:
            if self.is_superuser:
                self.role = Role.SUPERADMIN
            elif self.role == Role.SUPERADMIN:
                self.role = Role.ADMIN
        self.is_superuser = self.role == Role.SUPERADMIN
        self.is_staff = ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role.OPERATOR]

    def has_perm(self, perm, obj=None) -> bool:
        # The role grants the Django-admin permissions; per-user and group
        # permissions (superadmin-managed) still add to them.
        return super().has_perm(perm, obj) or (self.is_active and perm in role_permissions(self.role))

    def has_module_perms(self, app_label) -> bool:
        return super().has_module_perms(app_label) or (
            self.is_active and any(p.startswith(f"{app_label}.") for p in role_permissions(self.role))
        )

    def has_role(self, role: str) -> bool:
        """True when this user's role is `role` or above."""
        return self.is_active and ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]
