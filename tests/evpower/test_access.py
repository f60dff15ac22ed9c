"""The one role table: capabilities per role, read alike by the API and the back office."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client

from evpower.access import Can, may
from evpower.api import permissions
from evpower.models import Role
from tests.factories import UserFactory

ROLES = ["client", "operator", "admin", "superadmin"]
# Who may do what (SPEC "Roles"): the lowest role, everything above inherits.
LOWEST = {
    Can.BACK_OFFICE: "operator",
    Can.OPERATE_STATIONS: "operator",
    Can.COMMAND_STATIONS: "operator",
    Can.READ_ALL_SESSIONS: "operator",
    Can.READ_ID_TAGS: "operator",
    Can.MANAGE_STATION_SETUP: "operator",
    Can.MANAGE_STATIONS: "admin",
    Can.MANAGE_TARIFFS: "admin",
    Can.MANAGE_ID_TAGS: "admin",
    Can.CLOSE_TRANSACTIONS: "admin",
    Can.MANAGE_USERS: "admin",
    Can.GRANT_PRIVILEGED_ROLES: "superadmin",
    Can.EDIT_HISTORY: "superadmin",
}


@pytest.mark.parametrize("capability", list(Can))
@pytest.mark.parametrize("role", ROLES)
def test_capability_matrix(capability, role):
    user = UserFactory.build(role=Role(role))
    expected = ROLES.index(role) >= ROLES.index(LOWEST[capability])

    assert may(user, capability) is expected
    # The API's class for the same capability answers the same.
    request = type("Request", (), {"user": user, "method": "POST"})()
    assert permissions.Allowed(capability)().has_permission(request, view=None) is expected


@pytest.mark.parametrize("capability", list(Can))
def test_nobody_anonymous_or_inactive_may_anything(capability):
    assert may(AnonymousUser(), capability) is False
    assert may(UserFactory.build(role=Role.SUPERADMIN, is_active=False), capability) is False


# The back office by role: (path, method) -> status per role.
PAGES = [
    ("/admin/", "get", {"client": 302, "operator": 200, "admin": 200, "superadmin": 200}),
    ("/admin/stations/station/", "get", {"client": 302, "operator": 200, "admin": 200, "superadmin": 200}),
    (
        "/admin/stations/station/add/",
        "get",
        {"client": 302, "operator": 403, "admin": 200, "superadmin": 200},
    ),
    ("/admin/billing/session/", "get", {"client": 302, "operator": 200, "admin": 200, "superadmin": 200}),
    ("/admin/billing/session/add/", "get", {"client": 302, "operator": 403, "admin": 403, "superadmin": 403}),
    (
        "/admin/billing/transaction/add/",
        "get",
        {"client": 302, "operator": 403, "admin": 403, "superadmin": 403},
    ),
    ("/admin/billing/tariff/", "get", {"client": 302, "operator": 200, "admin": 200, "superadmin": 200}),
    ("/admin/billing/tariff/add/", "get", {"client": 302, "operator": 403, "admin": 200, "superadmin": 200}),
    ("/admin/stations/idtag/add/", "get", {"client": 302, "operator": 403, "admin": 200, "superadmin": 200}),
    ("/admin/evpower/user/", "get", {"client": 302, "operator": 403, "admin": 200, "superadmin": 200}),
    ("/admin/stations/messagelog/", "get", {"client": 302, "operator": 200, "admin": 200, "superadmin": 200}),
    ("/dashboard", "get", {"client": 302, "operator": 200, "admin": 200, "superadmin": 200}),
]


@pytest.mark.django_db
@pytest.mark.parametrize("path,method,expected", PAGES, ids=[p for p, _, _ in PAGES])
def test_back_office_pages_by_role(users, path, method, expected):
    for role in ROLES:
        client = Client()
        client.force_login(users[role])
        assert getattr(client, method)(path).status_code == expected[role], (role, path)


@pytest.mark.django_db
def test_station_actions_are_offered_to_operators_but_not_station_editing(users):
    client = Client()
    client.force_login(users["operator"])
    page = client.get("/admin/stations/station/").content.decode()

    assert 'value="reset_soft"' in page and 'value="remote_start"' in page
    assert 'value="delete_selected"' not in page


@pytest.mark.django_db
def test_sidebar_shows_only_what_the_role_may_open(users):
    operator, admin = Client(), Client()
    operator.force_login(users["operator"])
    admin.force_login(users["admin"])

    assert "/admin/evpower/user/" not in operator.get("/admin/").content.decode()
    assert "/admin/evpower/user/" in admin.get("/admin/").content.decode()


@pytest.mark.django_db
def test_local_lists_are_sent_by_admins_only(users):
    operator, admin = Client(), Client()
    operator.force_login(users["operator"])
    admin.force_login(users["admin"])

    assert 'value="sync_full"' not in operator.get("/admin/stations/localauthlist/").content.decode()
    assert 'value="sync_full"' in admin.get("/admin/stations/localauthlist/").content.decode()
