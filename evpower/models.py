from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    CLIENT = "client", "Client"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Admin"
    SUPERADMIN = "superadmin", "Superadmin"


ROLE_RANK = {Role.CLIENT: 0, Role.OPERATOR: 1, Role.ADMIN: 2, Role.SUPERADMIN: 3}


class User(AbstractUser):
    """An account; its role decides what it may do (SPEC "Roles")."""

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CLIENT)

    def save(self, *args, **kwargs):
        # `createsuperuser` makes a superadmin; staff (Django admin access)
        # follows the role so the two can never disagree.
        if self.is_superuser:
            self.role = Role.SUPERADMIN
        self.is_superuser = self.role == Role.SUPERADMIN
        self.is_staff = ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role.OPERATOR]
        super().save(*args, **kwargs)

    def has_role(self, role: str) -> bool:
        """True when this user's role is `role` or above."""
        return self.is_active and ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]
