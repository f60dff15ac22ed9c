"""Account services: who may create or change which user."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import ProtectedError, RestrictedError
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import ValidationError

from evpower.errors import Conflict, DomainError, Forbidden
from evpower.models import Role, User

_PRIVILEGED = (Role.ADMIN, Role.SUPERADMIN)


def user_may_manage(*, actor: User, role: str) -> bool:
    """Whether `actor` may create, change or delete users of `role`, or grant it.

    Admins manage clients and operators; only a superadmin touches admins.
    """
    if role in _PRIVILEGED:
        return actor.has_role(Role.SUPERADMIN)
    return actor.has_role(Role.ADMIN)


def _assert_may_manage(*, actor: User, role: str) -> None:
    if not user_may_manage(actor=actor, role=role):
        raise Forbidden("permission_denied", "Only a superadmin manages admins and superadmins.")


def _set_password(*, user: User, password: str) -> None:
    # Validated here, against the user's final username and email, so that no
    # caller can store a password the validators would refuse.
    try:
        validate_password(password, user)
    except DjangoValidationError as exc:
        raise ValidationError({"password": list(exc.messages)}) from exc
    user.set_password(password)


@transaction.atomic
def user_create(
    *,
    actor: User,
    username: str,
    password: str,
    email: str = "",
    role: str = Role.CLIENT,
    is_active: bool = True,
) -> User:
    """Create a user; 403 when `actor` may not grant `role`, 400 for a weak password."""
    _assert_may_manage(actor=actor, role=role)
    user = User(username=username, email=email, role=role, is_active=is_active)
    _set_password(user=user, password=password)
    user.save()
    return user


@transaction.atomic
def user_update(*, actor: User, user: User, data: dict) -> User:
    """Change `user` with the fields in `data` (username, password, email, role, is_active).

    Raises 403 when `actor` may not manage `user` or grant the new role, or
    changes its own role; 400 when it deactivates itself or the password is weak.
    """
    data = dict(data)
    is_self = user.pk == actor.pk
    if "role" in data and data["role"] != user.role:
        if is_self:
            raise Forbidden("permission_denied", "Nobody changes their own role.")
        _assert_may_manage(actor=actor, role=data["role"])
    if is_self and data.get("is_active") is False:
        raise DomainError("invalid", "You cannot deactivate yourself.")
    # An admin edits its own account (email, password) but no other admin's.
    if not is_self:
        _assert_may_manage(actor=actor, role=user.role)

    password = data.pop("password", None)
    for field, value in data.items():
        setattr(user, field, value)
    if password is not None:
        _set_password(user=user, password=password)
    user.save()
    if password is not None or not user.is_active:
        # A reset password or a disabled account must also lock out whoever
        # still holds the old API token.
        Token.objects.filter(user=user).delete()
    return user


@transaction.atomic
def user_delete(*, actor: User, user: User) -> None:
    """Delete `user`; 400 for oneself, 403 when `actor` may not manage it, 409 when still referenced."""
    if user.pk == actor.pk:
        raise DomainError("invalid", "You cannot delete yourself.")
    _assert_may_manage(actor=actor, role=user.role)
    try:
        user.delete()
    except (ProtectedError, RestrictedError) as exc:
        raise Conflict("in_use", "This user is still referenced; deactivate it instead.") from exc
