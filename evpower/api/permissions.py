"""One permission class per role rule; endpoints state their roles in one line."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from evpower.models import Role


def has_role(user, role: str) -> bool:
    return bool(user and user.is_authenticated and user.has_role(role))


class _RoleAtLeast(BasePermission):
    role = Role.CLIENT

    def has_permission(self, request, view) -> bool:
        return has_role(request.user, self.role)


class IsClient(_RoleAtLeast):
    """Any signed-in user (client is the lowest role)."""

    role = Role.CLIENT


class IsOperator(_RoleAtLeast):
    role = Role.OPERATOR


class IsAdmin(_RoleAtLeast):
    role = Role.ADMIN


class IsSuperAdmin(_RoleAtLeast):
    role = Role.SUPERADMIN


class ReadOperatorWriteAdmin(BasePermission):
    """Operators read, admins write."""

    def has_permission(self, request, view) -> bool:
        role = Role.OPERATOR if request.method in SAFE_METHODS else Role.ADMIN
        return has_role(request.user, role)


class ReadClientWriteAdmin(BasePermission):
    """Everyone signed in reads, admins write."""

    def has_permission(self, request, view) -> bool:
        role = Role.CLIENT if request.method in SAFE_METHODS else Role.ADMIN
        return has_role(request.user, role)
