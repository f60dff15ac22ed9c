"""A malformed multipart body, through a real Daphne, gets the API's JSON
error (not the HTTP layer's bare 400 with no body), on every endpoint."""

import pytest
import requests
from asgiref.sync import sync_to_async

from evpower.models import Role
from tests.live import http

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

MULTIPART = {"Content-Type": "multipart/form-data; boundary=XX"}
MALFORMED = [b"garbage", b"--XX--\r\n", b"--XX\r\nno header end"]


def assert_json_error(response: requests.Response) -> None:
    assert response.status_code == 400, response.content
    assert response.headers.get("Content-Type") == "application/json"
    body = response.json()
    assert body["error"] and body["detail"]


@pytest.mark.parametrize("body", MALFORMED)
async def test_malformed_multipart_token_request_gets_json_error(server, body):
    response = await http(server, "POST", "/auth/token", data=body, headers=MULTIPART)
    assert_json_error(response)


@pytest.mark.parametrize("path", ["/ocpp/send_command", "/ocpp/sessions", "/ocpp/stations"])
async def test_malformed_multipart_on_other_endpoints_gets_json_error(server, live_token, path):
    key = await sync_to_async(live_token)(Role.SUPERADMIN)
    response = await http(server, "POST", path, key, data=b"garbage", headers=MULTIPART)
    assert_json_error(response)
