"""The Django admin follows the roles: who sees what, and admins never manage admins."""

import pytest
from django.test import Client

from evpower.models import Role, User, role_permissions
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(users):
    def login(role: str) -> Client:
        client = Client()
        client.force_login(users[role])
        return client

    return login


def _change_form(user: User, **changes) -> dict:
    data = {
        "username": user.username,
        "email": user.email,
        "first_name": "",
        "last_name": "",
        "is_active": "on" if user.is_active else "",
        "role": user.role,
        "last_login_0": "",
        "last_login_1": "",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


@pytest.mark.parametrize(
    "role,users_page,stations_page,tariffs_page",
    [
        ("client", 302, 302, 302),  # not staff: sent to the login page
        ("operator", 403, 200, 200),
        ("admin", 200, 200, 200),
        ("superadmin", 200, 200, 200),
    ],
)
def test_admin_pages_by_role(browser, role, users_page, stations_page, tariffs_page):
    client = browser(role)

    assert client.get("/admin/evpower/user/").status_code == users_page
    assert client.get("/admin/stations/station/").status_code == stations_page
    assert client.get("/admin/billing/tariff/").status_code == tariffs_page


def test_operator_reads_but_does_not_write_stations(browser):
    client = browser("operator")

    assert client.get("/admin/stations/station/add/").status_code == 403
    assert client.get("/admin/billing/session/").status_code == 200


def test_role_permissions_grow_with_the_role():
    operator, admin = role_permissions(Role.OPERATOR), role_permissions(Role.ADMIN)

    assert role_permissions(Role.CLIENT) == frozenset()
    assert "stations.view_station" in operator
    assert "stations.change_station" not in operator
    assert operator < admin
    assert {"stations.change_station", "billing.add_tariff", "evpower.change_user"} <= admin
    assert "billing.change_session" not in admin


def test_inactive_staff_holds_no_role_permission():
    user = UserFactory(role=Role.ADMIN, is_active=False)

    assert not user.has_perm("stations.view_station")
    assert not user.has_module_perms("stations")


def test_admin_changes_a_client_in_the_admin(browser):
    target = UserFactory(role=Role.CLIENT)

    response = browser("admin").post(
        f"/admin/evpower/user/{target.pk}/change/", _change_form(target, role="operator")
    )

    assert response.status_code == 302
    target.refresh_from_db()
    assert (target.role, target.is_staff) == (Role.OPERATOR, True)


@pytest.mark.parametrize("role", ["admin", "superadmin"])
def test_admin_may_not_grant_privileged_roles_in_the_admin(browser, role):
    target = UserFactory(role=Role.CLIENT)

    response = browser("admin").post(
        f"/admin/evpower/user/{target.pk}/change/", _change_form(target, role=role)
    )

    assert response.status_code == 200  # the form again, with an error
    assert "Select a valid choice" in response.content.decode()
    target.refresh_from_db()
    assert target.role == Role.CLIENT


def test_admin_may_not_tick_superuser_in_the_admin(browser):
    target = UserFactory(role=Role.CLIENT)

    browser("admin").post(f"/admin/evpower/user/{target.pk}/change/", _change_form(target, is_superuser="on"))

    target.refresh_from_db()
    assert (target.role, target.is_superuser) == (Role.CLIENT, False)


@pytest.mark.parametrize("role", ["admin", "superadmin"])
def test_admin_may_not_edit_or_delete_admins_in_the_admin(browser, role):
    target = UserFactory(role=role)
    client = browser("admin")

    edit = client.post(
        f"/admin/evpower/user/{target.pk}/change/", _change_form(target, email="x@example.com")
    )
    delete = client.post(f"/admin/evpower/user/{target.pk}/delete/", {"post": "yes"})
    password = client.get(f"/admin/evpower/user/{target.pk}/password/")

    assert (edit.status_code, delete.status_code, password.status_code) == (403, 403, 403)
    target.refresh_from_db()
    assert target.email != "x@example.com"


def test_admin_has_no_bulk_delete(browser):
    response = browser("admin").get("/admin/evpower/user/")

    assert "delete_selected" not in response.content.decode()


def test_superadmin_grants_admin_in_the_admin(browser):
    target = UserFactory(role=Role.CLIENT)

    response = browser("superadmin").post(
        f"/admin/evpower/user/{target.pk}/change/", _change_form(target, role="admin")
    )

    assert response.status_code == 302
    target.refresh_from_db()
    assert target.role == Role.ADMIN


def test_nobody_changes_their_own_role_in_the_admin(browser, users):
    me = users["superadmin"]

    browser("superadmin").post(
        f"/admin/evpower/user/{me.pk}/change/", _change_form(me, role="client", is_superuser="on")
    )

    me.refresh_from_db()
    assert me.role == Role.SUPERADMIN


def test_nobody_deletes_themselves_in_the_admin(browser, users):
    me = users["admin"]

    response = browser("admin").post(f"/admin/evpower/user/{me.pk}/delete/", {"post": "yes"})

    assert response.status_code == 403
    assert User.objects.filter(pk=me.pk).exists()


def test_admin_adds_an_operator_in_the_admin(browser):
    response = browser("admin").post(
        "/admin/evpower/user/add/",
        {
            "username": "newop",
            "email": "newop@example.com",
            "role": "operator",
            "password1": "Plug-in-2-charge!",
            "password2": "Plug-in-2-charge!",
            "usable_password": "true",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert User.objects.get(username="newop").role == Role.OPERATOR
