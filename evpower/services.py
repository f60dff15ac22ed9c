"""Account services: who may create or change which user."""

from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from evpower.api.errors import APIError
from evpower.models import Role, User


def _assert_may_manage(*, actor: User, role: str) -> None:
    """Admins manage clients and operators; only a superadmin touches admins."""
    if role in (Role.ADMIN, Role.SUPERADMIN) and not actor.has_role(Role.SUPERADMIN):
        raise APIError(403, "permission_denied", "Only a superadmin manages admins and superadmins.")


def user_create(
    *,
    actor: User,
    username: str,
    password: str,
    email: str = "",
    role: str = Role.CLIENT,
    is_active: bool = True,
) -> User:
    _assert_may_manage(actor=actor, role=role)
    user = User(username=username, email=email, role=role, is_active=is_active)
    validate_password(password, user)
    user.set_password(password)
    user.save()
    return user


@transaction.atomic
def user_update(*, actor: User, user: User, data: dict) -> User:
    _assert_may_manage(actor=actor, role=user.role)
    if "role" in data and data["role"] != user.role:
        _assert_may_manage(actor=actor, role=data["role"])
        if user.pk == actor.pk:
            raise APIError(403, "permission_denied", "Nobody changes their own role.")
    if "is_active" in data and user.pk == actor.pk and not data["is_active"]:
        raise APIError(400, "invalid", "You cannot deactivate yourself.")
    password = data.pop("password", None)
    for field, value in data.items():
        setattr(user, field, value)
    if password is not None:
        validate_password(password, user)
        user.set_password(password)
    user.save()
    return user


def user_delete(*, actor: User, user: User) -> None:
    _assert_may_manage(actor=actor, role=user.role)
    if user.pk == actor.pk:
        raise APIError(400, "invalid", "You cannot delete yourself.")
    user.delete()
