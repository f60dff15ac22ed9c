"""`/openapi.json` documents every API endpoint; `/docs` serves Swagger UI locally."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient
from rest_framework.views import APIView

pytestmark = pytest.mark.django_db

NOT_API = {"openapi", "docs"}
UNDOCUMENTED_METHODS = {"options", "head", "trace"}


def _api_routes(patterns=None, prefix=""):
    """(pattern text, URLPattern) of every DRF view in the URLconf, except the docs themselves."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from _api_routes(pattern.url_patterns, prefix + str(pattern.pattern))
            continue
        view_class = getattr(pattern.callback, "cls", None)
        if view_class and issubclass(view_class, APIView) and pattern.name not in NOT_API:
            yield prefix + str(pattern.pattern), pattern


def _normalise(path: str) -> str:
    """`^ocpp/users/(?P<pk>\\d+)/?$` and `/ocpp/users/{id}/` both become `/ocpp/users/{}`."""
    path = path.removeprefix("^").removesuffix("$").removesuffix("/?")
    path = re.sub(r"\(\?P<\w+>[^)]*\)|<[^>]+>|\{\w+\}", "{}", path)
    return "/" + path.strip("/")


def _methods(pattern: URLPattern) -> set[str]:
    view = pattern.callback.cls()
    return {m.lower() for m in view.allowed_methods} - UNDOCUMENTED_METHODS


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        response = APIClient().get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)


def test_schema_is_public_json():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token bogus")

    response = client.get("/openapi.json")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi+json")


def test_every_registered_api_path_and_method_is_documented(schema):
    documented = {_normalise(path): set(ops) for path, ops in schema["paths"].items()}
    routes = list(_api_routes())
    assert len(routes) >= 5  # the foundation's own: health, auth/token, auth/me, users, user detail

    missing = {}
    for route, pattern in routes:
        path = _normalise(route)
        lacking = _methods(pattern) - documented.get(path, set())
        if lacking:
            missing[path] = sorted(lacking)

    assert missing == {}


def test_foundation_paths_are_documented(schema):
    paths = {_normalise(p) for p in schema["paths"]}

    assert {"/health", "/auth/token", "/auth/me", "/ocpp/users", "/ocpp/users/{}"} <= paths
    assert not any(p.startswith(("/admin", "/docs", "/openapi")) for p in paths)


def test_documented_paths_have_no_trailing_slash(schema):
    # The routes accept both; the documentation shows the SPEC's spelling.
    assert [p for p in schema["paths"] if p.endswith("/")] == []


def test_token_authentication_is_described_for_the_authorize_button(schema):
    token_auth = schema["components"]["securitySchemes"]["tokenAuth"]

    assert token_auth == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": 'Token-based authentication with required prefix "Token"',
    }


def test_user_password_is_write_only_in_the_schema(schema):
    user = schema["components"]["schemas"]["User"]["properties"]

    assert user["password"]["writeOnly"] is True
    assert user["id"]["readOnly"] is True
    assert set(user) == {"id", "username", "password", "email", "role", "is_active"}


def test_foundation_views_generate_without_warnings_or_errors():
    foundation = [
        pattern for _, pattern in _api_routes() if pattern.callback.cls.__module__.startswith("evpower.")
    ]
    GENERATOR_STATS.reset()

    with GENERATOR_STATS.silence():
        schema = SchemaGenerator(patterns=foundation).get_schema(request=None, public=True)

    assert not GENERATOR_STATS, (dict(GENERATOR_STATS._warn_cache), dict(GENERATOR_STATS._error_cache))
    validate_schema(schema)
    assert len(schema["paths"]) == 5


def test_docs_serve_swagger_ui_from_local_static_files():
    response = APIClient().get("/docs")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert 'url: "/openapi.json"' in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in assets
    assert all(a.startswith("/static/") for a in assets), assets
    assert "cdn" not in html.lower()
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")), asset


def test_docs_work_with_trailing_slash():
    assert APIClient().get("/docs/").status_code == 200
