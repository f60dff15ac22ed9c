"""`/ocpp/users`: who may manage whom, as a matrix, and the resource's shape."""

import pytest
from rest_framework.authtoken.models import Token

from evpower.api.pagination import Pagination
from evpower.models import Role, User
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ROLES = [r.value for r in Role]
GOOD_PASSWORD = "Plug-in-2-charge!"
EXPECTED_ACCESS = {"anon": 401, "client": 403, "operator": 403, "admin": None, "superadmin": None}


def _target(role=Role.CLIENT):
    return UserFactory(role=role, username=f"target-{role}")


# --- access matrix -------------------------------------------------------------


@pytest.mark.parametrize("who,status", [(k, v) for k, v in EXPECTED_ACCESS.items() if v])
def test_non_admins_may_not_touch_users(api, who, status):
    target = _target()
    client = api[who]
    responses = [
        client.get("/ocpp/users"),
        client.post("/ocpp/users", {"username": "x", "password": GOOD_PASSWORD}, format="json"),
        client.get(f"/ocpp/users/{target.pk}"),
        client.patch(f"/ocpp/users/{target.pk}", {"email": "x@example.com"}, format="json"),
        client.delete(f"/ocpp/users/{target.pk}"),
    ]

    assert [r.status_code for r in responses] == [status] * 5
    assert all(set(r.json()) == {"error", "detail"} for r in responses)
    assert not User.objects.filter(username="x").exists()
    target.refresh_from_db()
    assert target.email == "target-client@example.com"


@pytest.mark.parametrize("who", ["admin", "superadmin"])
def test_admins_read_every_user(api, who):
    superadmin_target = _target(Role.SUPERADMIN)

    listing = api[who].get("/ocpp/users")
    detail = api[who].get(f"/ocpp/users/{superadmin_target.pk}")

    assert listing.status_code == 200
    assert listing.json()["count"] == User.objects.count()
    assert detail.status_code == 200
    assert detail.json()["role"] == "superadmin"


# (actor, target role) -> may the actor create, edit and delete such a user?
MANAGE_MATRIX = [
    ("admin", "client", True),
    ("admin", "operator", True),
    ("admin", "admin", False),
    ("admin", "superadmin", False),
    ("superadmin", "client", True),
    ("superadmin", "operator", True),
    ("superadmin", "admin", True),
    ("superadmin", "superadmin", True),
]


@pytest.mark.parametrize("actor,role,allowed", MANAGE_MATRIX)
def test_create_user_of_role(api, actor, role, allowed):
    response = api[actor].post(
        "/ocpp/users",
        {"username": "newbie", "password": GOOD_PASSWORD, "email": "n@example.com", "role": role},
        format="json",
    )

    if allowed:
        assert response.status_code == 201, response.json()
        user = User.objects.get(username="newbie")
        assert response.json() == {
            "id": user.pk,
            "username": "newbie",
            "email": "n@example.com",
            "role": role,
            "is_active": True,
        }
        assert user.role == role
    else:
        assert response.status_code == 403
        assert response.json()["error"] == "permission_denied"
        assert not User.objects.filter(username="newbie").exists()


@pytest.mark.parametrize("actor,role,allowed", MANAGE_MATRIX)
def test_edit_user_of_role(api, actor, role, allowed):
    target = _target(role)

    response = api[actor].patch(f"/ocpp/users/{target.pk}", {"email": "changed@example.com"}, format="json")

    target.refresh_from_db()
    if allowed:
        assert response.status_code == 200
        assert response.json()["email"] == "changed@example.com"
        assert target.email == "changed@example.com"
    else:
        assert response.status_code == 403
        assert target.email != "changed@example.com"


@pytest.mark.parametrize("actor,role,allowed", MANAGE_MATRIX)
def test_delete_user_of_role(api, actor, role, allowed):
    target = _target(role)

    response = api[actor].delete(f"/ocpp/users/{target.pk}")

    if allowed:
        assert response.status_code == 204
        assert not User.objects.filter(pk=target.pk).exists()
    else:
        assert response.status_code == 403
        assert User.objects.filter(pk=target.pk).exists()


@pytest.mark.parametrize("actor,role,allowed", MANAGE_MATRIX)
def test_grant_role_to_a_client(api, actor, role, allowed):
    target = _target(Role.CLIENT)

    response = api[actor].patch(f"/ocpp/users/{target.pk}", {"role": role}, format="json")

    target.refresh_from_db()
    if allowed:
        assert response.status_code == 200
        assert target.role == role
    else:
        assert response.status_code == 403
        assert target.role == Role.CLIENT


def test_admin_may_not_demote_another_admin(api):
    target = _target(Role.ADMIN)

    response = api["admin"].patch(f"/ocpp/users/{target.pk}", {"role": "client"}, format="json")

    assert response.status_code == 403
    target.refresh_from_db()
    assert target.role == Role.ADMIN


def test_superadmin_demotes_a_superadmin_and_the_django_flags_follow(api):
    target = _target(Role.SUPERADMIN)
    assert target.is_superuser

    response = api["superadmin"].patch(f"/ocpp/users/{target.pk}", {"role": "admin"}, format="json")

    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    target.refresh_from_db()
    assert (target.role, target.is_superuser, target.is_staff) == ("admin", False, True)


# --- oneself -------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "superadmin"])
@pytest.mark.parametrize("new_role", ROLES)
def test_nobody_changes_their_own_role(api, users, who, new_role):
    me = users[who]
    response = api[who].patch(f"/ocpp/users/{me.pk}", {"role": new_role}, format="json")

    me.refresh_from_db()
    if new_role == who:
        # Sending one's unchanged role back (a full form) is no change.
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert "own role" in response.json()["detail"]
    assert me.role == who


@pytest.mark.parametrize("who", ["admin", "superadmin"])
def test_nobody_deactivates_themselves(api, users, who):
    me = users[who]

    response = api[who].patch(f"/ocpp/users/{me.pk}", {"is_active": False}, format="json")

    assert response.status_code == 400
    assert response.json() == {"error": "invalid", "detail": "You cannot deactivate yourself."}
    me.refresh_from_db()
    assert me.is_active


@pytest.mark.parametrize("who", ["admin", "superadmin"])
def test_nobody_deletes_themselves(api, users, who):
    me = users[who]

    response = api[who].delete(f"/ocpp/users/{me.pk}")

    assert response.status_code == 400
    assert response.json() == {"error": "invalid", "detail": "You cannot delete yourself."}
    assert User.objects.filter(pk=me.pk).exists()


def test_admin_edits_its_own_email(api, users):
    me = users["admin"]

    response = api["admin"].patch(f"/ocpp/users/{me.pk}", {"email": "me@example.com"}, format="json")

    assert response.status_code == 200
    me.refresh_from_db()
    assert me.email == "me@example.com"


# --- fields and validation -------------------------------------------------------


def test_password_is_stored_hashed_and_never_shown(api):
    response = api["admin"].post("/ocpp/users", {"username": "bob", "password": GOOD_PASSWORD}, format="json")

    assert response.status_code == 201
    assert "password" not in response.json()
    user = User.objects.get(username="bob")
    assert user.password != GOOD_PASSWORD
    assert user.check_password(GOOD_PASSWORD)
    assert "password" not in api["admin"].get(f"/ocpp/users/{user.pk}").json()


def test_new_user_defaults_to_an_active_client(api):
    response = api["admin"].post("/ocpp/users", {"username": "bob", "password": GOOD_PASSWORD}, format="json")

    assert response.json()["role"] == "client"
    assert response.json()["is_active"] is True


@pytest.mark.parametrize(
    "password,message",
    [
        ("short1!", "This password is too short. It must contain at least 8 characters."),
        ("password123", "This password is too common."),
        ("83749201837465", "This password is entirely numeric."),
        ("bobthebuilder1", "The password is too similar to the username."),
    ],
)
def test_weak_password_is_refused_with_the_validators_messages(api, password, message):
    response = api["admin"].post(
        "/ocpp/users", {"username": "bobthebuilder", "password": password}, format="json"
    )

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_error"
    assert message in body["fields"]["password"]
    assert message in body["password"]
    assert not User.objects.filter(username="bobthebuilder").exists()


def test_password_change_is_validated_against_the_new_username(api):
    target = _target()

    response = api["admin"].patch(
        f"/ocpp/users/{target.pk}",
        {"username": "zanzibarian", "password": "zanzibarian7"},
        format="json",
    )

    assert response.status_code == 400
    assert "The password is too similar to the username." in response.json()["fields"]["password"]
    target.refresh_from_db()
    assert target.username == "target-client"
    assert target.check_password(PASSWORD)


def test_password_reset_works_for_login_and_revokes_old_tokens(api, make_api):
    target = _target()
    old_client = make_api(target)

    response = api["admin"].patch(f"/ocpp/users/{target.pk}", {"password": GOOD_PASSWORD}, format="json")

    assert response.status_code == 200
    assert old_client.get("/auth/me").status_code == 401
    login = make_api().post(
        "/auth/token", {"username": "target-client", "password": GOOD_PASSWORD}, format="json"
    )
    assert login.status_code == 200


def test_deactivated_user_can_no_longer_log_in(api, make_api):
    target = _target()

    response = api["admin"].patch(f"/ocpp/users/{target.pk}", {"is_active": False}, format="json")

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    assert not Token.objects.filter(user=target).exists()
    login = make_api().post("/auth/token", {"username": "target-client", "password": PASSWORD}, format="json")
    assert login.status_code == 400


@pytest.mark.parametrize(
    "body,field",
    [
        ({"password": GOOD_PASSWORD}, "username"),
        ({"username": "bob"}, "password"),
        ({"username": "bob", "password": GOOD_PASSWORD, "role": "king"}, "role"),
        ({"username": "bob", "password": GOOD_PASSWORD, "email": "not-an-email"}, "email"),
        ({"username": "bad name!", "password": GOOD_PASSWORD}, "username"),
        ({"username": "bob", "password": GOOD_PASSWORD, "is_active": "maybe"}, "is_active"),
        ({"username": "x" * 151, "password": GOOD_PASSWORD}, "username"),
    ],
)
def test_invalid_user_input_answers_400_naming_the_field(api, body, field):
    response = api["superadmin"].post("/ocpp/users", body, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert field in response.json()["fields"]


def test_duplicate_username_is_a_field_error(api):
    _target()

    response = api["admin"].post(
        "/ocpp/users", {"username": "target-client", "password": GOOD_PASSWORD}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["fields"]["username"] == ["A user with that username already exists."]


def test_id_is_read_only(api):
    target = _target()

    response = api["admin"].patch(f"/ocpp/users/{target.pk}", {"id": 999999}, format="json")

    assert response.status_code == 200
    assert response.json()["id"] == target.pk


@pytest.mark.parametrize("path", ["/ocpp/users/999999", "/ocpp/users/99999999999999999999999999"])
def test_unknown_user_is_404_json(api, path):
    response = api["admin"].get(path)

    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "detail": "Not found."}


def test_put_is_not_offered(api):
    target = _target()

    response = api["admin"].put(f"/ocpp/users/{target.pk}", {"username": "x"}, format="json")

    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


# --- the list ------------------------------------------------------------------------


def test_list_is_newest_first_and_paginated(api, users):
    for _ in range(3):
        UserFactory()

    first = api["admin"].get("/ocpp/users", {"page_size": 2})
    second = api["admin"].get(first.json()["next"])

    ordered = list(User.objects.order_by("-date_joined", "-id").values_list("id", flat=True))
    assert first.json()["count"] == len(ordered) == 7
    assert set(first.json()) == {"count", "next", "previous", "results"}
    assert [u["id"] for u in first.json()["results"]] == ordered[:2]
    assert [u["id"] for u in second.json()["results"]] == ordered[2:4]
    assert first.json()["results"][0]["id"] == max(ordered)


def test_list_query_count_does_not_grow_with_users(api, django_assert_num_queries):
    client = api["admin"]
    # Token lookup (with its user), the count, the page.
    with django_assert_num_queries(3):
        client.get("/ocpp/users")
    UserFactory.create_batch(20)
    with django_assert_num_queries(3):
        response = client.get("/ocpp/users")
    assert len(response.json()["results"]) == 24


@pytest.mark.parametrize("query", [{"page": 99}, {"page": "x"}])
def test_page_out_of_range_is_404_json(api, query):
    response = api["admin"].get("/ocpp/users", query)

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_page_size_is_capped(api, monkeypatch):
    monkeypatch.setattr(Pagination, "max_page_size", 2)

    response = api["admin"].get("/ocpp/users", {"page_size": 100000})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 2
    assert response.json()["count"] == 4
