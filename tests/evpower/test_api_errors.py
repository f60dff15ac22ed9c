"""Every error is JSON `{"error", "detail"}`; paths work with or without a slash."""

import json
import logging

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.test import override_settings
from rest_framework import serializers
from rest_framework.test import APIClient, APIRequestFactory

from evpower.api import errors
from evpower.api.errors import api_exception_handler
from evpower.errors import Conflict

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/nope", "/ocpp/nope/", "/auth/token/extra", "/ocpp/users/abc", "/admin"])
def test_unknown_url_answers_json_404(path):
    with override_settings(DEBUG=False):
        response = APIClient().get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "not_found", "detail": "Not found."}


def test_unknown_url_answers_json_404_also_with_debug_on():
    with override_settings(DEBUG=True):
        response = APIClient().get("/nope")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("path", ["/auth/me", "/auth/me/", "/ocpp/users", "/ocpp/users/"])
def test_paths_work_with_and_without_trailing_slash(api, path):
    assert api["superadmin"].get(path).status_code == 200


def test_detail_path_works_with_and_without_trailing_slash(api, users):
    pk = users["client"].pk

    assert api["admin"].get(f"/ocpp/users/{pk}").status_code == 200
    assert api["admin"].get(f"/ocpp/users/{pk}/").status_code == 200


def test_post_without_trailing_slash_is_not_redirected(api):
    response = api["admin"].post(
        "/ocpp/users", {"username": "bob", "password": "Plug-in-2-charge!"}, format="json"
    )

    assert response.status_code == 201


@pytest.mark.parametrize("body", ["{bad", '{"username": ', "[1, 2", "\xff"])
def test_malformed_json_body_is_400_json(body):
    response = APIClient().post("/auth/token", body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"] == "parse_error"
    assert "JSON parse error" in response.json()["detail"]


def test_json_array_body_is_a_validation_error_not_a_crash(api):
    response = api["admin"].post("/ocpp/users", [1, 2], format="json")

    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
    assert "non_field_errors" in response.json()["fields"]


def test_unsupported_media_type_is_415_json(api):
    response = api["admin"].post("/ocpp/users", "<user/>", content_type="application/xml")

    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


def test_disallowed_host_is_400_json():
    with override_settings(DEBUG=False, ALLOWED_HOSTS=["example.com"]):
        response = APIClient().get("/health", HTTP_HOST="evil.example.org")

    assert response.status_code == 400
    assert response.json() == {"error": "bad_request", "detail": "Bad request."}


# --- the exception handler itself ---------------------------------------------------


def _handle(exc):
    request = APIRequestFactory().get("/")
    return api_exception_handler(exc, {"request": request, "view": None})


def test_domain_error_carries_its_code_detail_and_extra_keys():
    response = _handle(Conflict("not_connected", "Station is offline.", {"station_id": "CP1"}))

    assert response.status_code == 409
    assert response.data == {"error": "not_connected", "detail": "Station is offline.", "station_id": "CP1"}


def test_validation_error_lists_fields_in_fields_and_at_top_level():
    exc = serializers.ValidationError({"email": ["Enter a valid email address."], "role": ["Bad."]})

    response = _handle(exc)

    assert response.status_code == 400
    assert response.data == {
        "error": "validation_error",
        "detail": "email: Enter a valid email address. role: Bad.",
        "fields": {"email": ["Enter a valid email address."], "role": ["Bad."]},
        "email": ["Enter a valid email address."],
        "role": ["Bad."],
    }


def test_validation_error_field_named_like_a_shape_key_does_not_clobber_it():
    response = _handle(serializers.ValidationError({"detail": ["Too long."], "error": ["Nope."]}))

    assert response.data["error"] == "validation_error"
    assert response.data["fields"] == {"detail": ["Too long."], "error": ["Nope."]}
    assert isinstance(response.data["detail"], str)


def test_non_field_validation_error_is_described():
    response = _handle(serializers.ValidationError(["Start must be before end."]))

    assert response.data["detail"] == "Start must be before end."
    assert response.data["fields"] == {"non_field_errors": ["Start must be before end."]}


def test_nested_validation_errors_are_flattened_into_the_detail():
    exc = serializers.ValidationError({"periods": [{"start": ["Bad time."]}, {}]})

    response = _handle(exc)

    assert response.data["detail"] == "periods: Bad time."
    assert response.data["fields"] == {"periods": [{"start": ["Bad time."]}, {}]}


def test_django_404_and_permission_denied_become_json():
    assert _handle(Http404("secret details")).data == {"error": "not_found", "detail": "Not found."}
    denied = _handle(PermissionDenied())
    assert denied.status_code == 403
    assert denied.data["error"] == "permission_denied"


def test_unexpected_exception_is_a_logged_json_500(caplog):
    with caplog.at_level(logging.ERROR, logger="evpower.api.errors"):
        response = _handle(ZeroDivisionError("boom"))

    assert response.status_code == 500
    assert response.data == {"error": "server_error", "detail": "Internal server error."}
    assert "Unhandled API error" in caplog.text
    assert "ZeroDivisionError" in caplog.text


@pytest.mark.parametrize(
    "handler,status,code",
    [
        (errors.json_400, 400, "bad_request"),
        (errors.json_403, 403, "permission_denied"),
        (errors.json_404, 404, "not_found"),
        (errors.json_500, 500, "server_error"),
    ],
)
def test_django_error_handlers_answer_json(rf, handler, status, code):
    request = rf.get("/")
    response = handler(request) if handler is errors.json_500 else handler(request, Exception())

    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content)["error"] == code
