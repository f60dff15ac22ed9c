import pytest

from stations.models import IdTag
from tests.factories import IdTagFactory

pytestmark = pytest.mark.django_db

TAG_FIELDS = {"id_tag", "owner", "status", "expiry_date", "parent_id_tag"}


def test_id_tag_list_roles(api):
    codes = {role: client.get("/ocpp/id_tags").status_code for role, client in api.items()}
    assert codes == {"anon": 401, "client": 200, "operator": 200, "admin": 200, "superadmin": 200}


def test_id_tag_create_is_for_admins_and_up(api):
    codes = {
        role: client.post("/ocpp/id_tags", {"id_tag": f"T-{role}"}, format="json").status_code
        for role, client in api.items()
    }
    assert codes == {"anon": 401, "client": 403, "operator": 403, "admin": 201, "superadmin": 201}


def test_id_tag_write_roles_on_detail(api, users):
    for role in api:
        IdTagFactory(id_tag=f"T-{role}", owner=users["client"])
    patch = {
        role: client.patch(f"/ocpp/id_tags/T-{role}", {"status": "Blocked"}, format="json").status_code
        for role, client in api.items()
    }
    delete = {role: client.delete(f"/ocpp/id_tags/T-{role}").status_code for role, client in api.items()}
    expected = {"anon": 401, "client": 403, "operator": 403}
    assert patch == {**expected, "admin": 200, "superadmin": 200}
    assert delete == {**expected, "admin": 204, "superadmin": 204}
    # The client owns every tag here and still may not change one.
    assert IdTag.objects.get(id_tag="T-client").status == "Accepted"


def test_client_lists_only_its_own_tags(api, users):
    IdTagFactory(id_tag="MINE", owner=users["client"])
    IdTagFactory(id_tag="THEIRS")
    IdTagFactory(id_tag="NOBODYS", owner=None)
    client_tags = [t["id_tag"] for t in api["client"].get("/ocpp/id_tags").json()["results"]]
    assert client_tags == ["MINE"]
    operator_tags = {t["id_tag"] for t in api["operator"].get("/ocpp/id_tags").json()["results"]}
    assert operator_tags == {"MINE", "THEIRS", "NOBODYS"}


def test_client_reads_its_own_tag_but_not_anothers(api, users):
    IdTagFactory(id_tag="MINE", owner=users["client"])
    IdTagFactory(id_tag="THEIRS")
    assert api["client"].get("/ocpp/id_tags/MINE").status_code == 200
    other = api["client"].get("/ocpp/id_tags/THEIRS")
    assert other.status_code == 403
    assert other.json()["error"] == "permission_denied"
    assert api["client"].get("/ocpp/id_tags/NOPE").status_code == 404
    assert api["operator"].get("/ocpp/id_tags/THEIRS").status_code == 200


def test_created_tag_has_the_resource_shape(api, users):
    response = api["admin"].post(
        "/ocpp/id_tags",
        {
            "id_tag": "RFID-0001",
            "owner": users["client"].pk,
            "status": "Blocked",
            "expiry_date": "2030-01-01T10:00:00+02:00",
            "parent_id_tag": "FLEET-1",
        },
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == TAG_FIELDS
    assert body == {
        "id_tag": "RFID-0001",
        "owner": users["client"].pk,
        "status": "Blocked",
        "expiry_date": "2030-01-01T08:00:00Z",
        "parent_id_tag": "FLEET-1",
    }
    assert api["admin"].get("/ocpp/id_tags/RFID-0001").json() == body


def test_created_tag_defaults(api):
    body = api["admin"].post("/ocpp/id_tags", {"id_tag": "T1"}, format="json").json()
    assert body == {
        "id_tag": "T1",
        "owner": None,
        "status": "Accepted",
        "expiry_date": None,
        "parent_id_tag": "",
    }


def test_id_tag_is_unique_case_insensitively(api):
    IdTagFactory(id_tag="ABC123")
    response = api["admin"].post("/ocpp/id_tags", {"id_tag": "abc123"}, format="json")
    assert response.status_code == 400
    assert "id_tag" in response.json()["fields"]
    assert IdTag.objects.count() == 1


def test_renaming_onto_another_tag_is_refused(api):
    IdTagFactory(id_tag="ONE")
    IdTagFactory(id_tag="TWO")
    response = api["admin"].patch("/ocpp/id_tags/ONE", {"id_tag": "two"}, format="json")
    assert response.status_code == 400
    assert IdTag.objects.filter(id_tag="ONE").exists()


def test_tag_can_keep_its_id_in_a_patch_and_be_renamed(api):
    IdTagFactory(id_tag="ONE")
    assert api["admin"].patch("/ocpp/id_tags/ONE", {"id_tag": "ONE"}, format="json").status_code == 200
    assert api["admin"].patch("/ocpp/id_tags/ONE", {"id_tag": "UNO"}, format="json").status_code == 200
    assert api["operator"].get("/ocpp/id_tags/UNO").status_code == 200


def test_path_lookup_is_case_insensitive(api):
    IdTagFactory(id_tag="AbC")
    assert api["operator"].get("/ocpp/id_tags/abc").json()["id_tag"] == "AbC"


@pytest.mark.parametrize(
    "body",
    [
        {"id_tag": "X" * 21},
        {"id_tag": ""},
        {"id_tag": "a/b"},
        {"id_tag": "T1", "parent_id_tag": "P" * 21},
        {"id_tag": "T1", "status": "ConcurrentTx"},
        {"id_tag": "T1", "owner": 999999},
        {"id_tag": "T1", "expiry_date": "tomorrow"},
    ],
)
def test_invalid_tag_input_is_a_400_with_field_messages(api, body):
    response = api["admin"].post("/ocpp/id_tags", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert response.json()["fields"]
    assert not IdTag.objects.exists()


def test_patch_changes_owner_status_expiry_and_parent(api, users):
    IdTagFactory(id_tag="T1", owner=users["client"], parent_id_tag="P1")
    response = api["admin"].patch(
        "/ocpp/id_tags/T1",
        {"owner": None, "status": "Expired", "expiry_date": "2020-01-01T00:00:00Z", "parent_id_tag": None},
        format="json",
    )
    assert response.status_code == 200
    tag = IdTag.objects.get()
    assert (tag.owner, tag.status, tag.parent_id_tag) == (None, "Expired", "")
    assert tag.expiry_date.year == 2020


def test_delete_removes_the_tag(api):
    IdTagFactory(id_tag="T1")
    assert api["admin"].delete("/ocpp/id_tags/T1").status_code == 204
    assert not IdTag.objects.exists()
    assert api["admin"].delete("/ocpp/id_tags/T1").status_code == 404


def test_tags_with_path_characters_work_percent_encoded(api):
    api["admin"].post("/ocpp/id_tags", {"id_tag": "A#1+2:3"}, format="json")
    assert api["operator"].get("/ocpp/id_tags/A%231%2B2%3A3").json()["id_tag"] == "A#1+2:3"


def test_list_filters_by_status_and_owner(api, users):
    IdTagFactory(id_tag="A", status="Accepted", owner=users["client"])
    IdTagFactory(id_tag="B", status="Blocked", owner=users["client"])
    IdTagFactory(id_tag="C", status="Blocked")
    blocked = api["operator"].get("/ocpp/id_tags?status=Blocked").json()["results"]
    assert {t["id_tag"] for t in blocked} == {"B", "C"}
    owned = api["operator"].get(f"/ocpp/id_tags?owner={users['client'].pk}").json()["results"]
    assert {t["id_tag"] for t in owned} == {"A", "B"}
    assert api["operator"].get("/ocpp/id_tags?status=Lost").status_code == 400
    assert api["operator"].get("/ocpp/id_tags?owner=me").status_code == 400


def test_list_is_newest_first_and_paginated(api):
    for n in range(3):
        IdTagFactory(id_tag=f"T{n}", owner=None)
    body = api["operator"].get("/ocpp/id_tags?page_size=2").json()
    assert body["count"] == 3
    assert [t["id_tag"] for t in body["results"]] == ["T2", "T1"]
    assert body["next"]


def test_list_query_count_is_constant(api, django_assert_max_num_queries):
    for n in range(20):
        IdTagFactory(id_tag=f"T{n}", owner=None)
    client = api["operator"]
    with django_assert_max_num_queries(3):  # token + count + page
        assert len(client.get("/ocpp/id_tags").json()["results"]) == 20
