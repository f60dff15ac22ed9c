from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from evpower.access import ROLE_RANK, Role, has_role, role_permissions

__all__ = ["ROLE_RANK", "Role", "User", "role_permissions"]


class User(AbstractUser):
    """An account; its role decides what it may do (SPEC "Roles")."""

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CLIENT)
    # The back office's language for this user; empty: the browser's.
    language = models.CharField(
        max_length=8, choices=settings.LANGUAGES, blank=True, default="", verbose_name=_("language")
    )

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
        return has_role(self, role)
