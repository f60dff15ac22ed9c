"""The role permission classes every endpoint declares, as a matrix."""

import pytest
from django.contrib.auth.models import AnonymousUser
from rest_framework.test import APIRequestFactory

from evpower.api import permissions
from evpower.models import Role
from tests.factories import UserFactory

WHO = ["anon", "client", "operator", "admin", "superadmin"]

# Which of WHO each class lets through, for a read and for a write.
EXPECTED = {
    permissions.IsClient: (WHO[1:], WHO[1:]),
    permissions.IsOperator: (WHO[2:], WHO[2:]),
    permissions.IsAdmin: (WHO[3:], WHO[3:]),
    permissions.IsSuperAdmin: (WHO[4:], WHO[4:]),
    permissions.ReadOperatorWriteAdmin: (WHO[2:], WHO[3:]),
    permissions.ReadClientWriteAdmin: (WHO[1:], WHO[3:]),
}


def _user(who: str):
    return AnonymousUser() if who == "anon" else UserFactory.build(role=Role(who))


@pytest.mark.parametrize("permission", EXPECTED, ids=lambda p: p.__name__)
@pytest.mark.parametrize("who", WHO)
def test_permission_matrix(permission, who):
    readers, writers = EXPECTED[permission]
    factory = APIRequestFactory()
    allowed = {}
    for method in ("get", "head", "options", "post", "put", "patch", "delete"):
        request = getattr(factory, method)("/")
        request.user = _user(who)
        allowed[method] = permission().has_permission(request, view=None)

    expect_read, expect_write = who in readers, who in writers
    assert allowed == {
        "get": expect_read,
        "head": expect_read,
        "options": expect_read,
        "post": expect_write,
        "put": expect_write,
        "patch": expect_write,
        "delete": expect_write,
    }


@pytest.mark.parametrize("permission", EXPECTED, ids=lambda p: p.__name__)
def test_deactivated_superadmin_passes_nothing(permission):
    request = APIRequestFactory().get("/")
    request.user = UserFactory.build(role=Role.SUPERADMIN, is_active=False)

    assert permission().has_permission(request, view=None) is False


def test_has_role_is_false_for_no_user_and_anonymous():
    assert permissions.has_role(None, Role.CLIENT) is False
    assert permissions.has_role(AnonymousUser(), Role.CLIENT) is False
