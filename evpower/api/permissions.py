"""One permission class per role rule; endpoints state their roles in one line.

The rules themselves live in `evpower.access`, which the back office reads too.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from evpower.access import Can, Role, has_role, may

__all__ = ["Allowed", "has_role"]


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


def Allowed(capability: Can) -> type[BasePermission]:  # used like a class
    """A permission class letting through whoever `may` do `capability`."""

    class _Allowed(BasePermission):
        def has_permission(self, request, view) -> bool:
            return may(request.user, capability)

    _Allowed.__name__ = f"Allowed_{capability.value}"
    return _Allowed
