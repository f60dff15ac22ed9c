"""One JSON error shape for the whole API: `{"error", "detail"}` (+ field messages)."""

import logging
import traceback

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DataError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from redis.exceptions import RedisError
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler, set_rollback

from evpower.api.fields import utf8_safe
from evpower.errors import DomainError, Invalid, Kind, Unavailable

logger = logging.getLogger(__name__)


# The one place where domain errors become HTTP.
STATUS_OF_KIND = {
    Kind.INVALID: 400,
    Kind.FORBIDDEN: 403,
    Kind.NOT_FOUND: 404,
    Kind.CONFLICT: 409,
    Kind.TOO_MANY: 429,
    Kind.STATION_ERROR: 502,
    Kind.UNAVAILABLE: 503,
    Kind.STATION_TIMEOUT: 504,
}


class ErrorOutput(serializers.Serializer):
    """The error shape, for `extend_schema(responses={4xx: ErrorOutput})`."""

    error = serializers.CharField()
    detail = serializers.CharField()


def _flatten(detail) -> list[str]:
    if isinstance(detail, dict):
        return [m for v in detail.values() for m in _flatten(v)]
    if isinstance(detail, list):
        return [m for v in detail for m in _flatten(v)]
    return [str(detail)]


def _summary(fields: dict) -> str:
    parts = []
    for name, messages in fields.items():
        text = " ".join(_flatten(messages))
        parts.append(text if name == "non_field_errors" else f"{name}: {text}")
    return " ".join(parts) or "Invalid input."


def _raised_parsing_the_body(exc: BaseException) -> bool:
    return any(frame.f_code is Request._parse.__code__ for frame, _ in traceback.walk_tb(exc.__traceback__))


def api_exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RecursionError) and _raised_parsing_the_body(exc):
        # The JSON parser recurses per nesting level and lets this one through.
        exc = exceptions.ParseError("JSON parse error - nested too deeply.")
    elif isinstance(exc, RedisError):
        # Live state and commands need Redis; everything stored keeps working.
        logger.warning("Redis unreachable", exc_info=exc)
        exc = Unavailable(
            "unavailable", "Live state and station commands are unavailable (Redis unreachable)."
        )
    elif isinstance(exc, DataError):
        # A value the serializers let through but the database refuses, even
        # to search for: NUL characters on PostgreSQL, a number beyond a
        # column's range. Logged with its traceback: a validation rule is missing.
        logger.warning("Input refused by the database", exc_info=exc)
        set_rollback()
        exc = DomainError(
            "invalid_input", "A value cannot be stored or looked up (NUL character, too large a number)."
        )

    if isinstance(exc, Invalid):
        exc = exceptions.ValidationError(exc.fields)
    elif isinstance(exc, DomainError):
        body = {"error": exc.code, "detail": exc.detail, **exc.extra}
        return Response(utf8_safe(body), status=STATUS_OF_KIND[exc.kind])

    response = exception_handler(exc, context)
    if response is None:
        logger.exception("Unhandled API error", exc_info=exc)
        return Response(
            {"error": "server_error", "detail": "Internal server error."},
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = {"error": "validation_error", "detail": _summary(fields), "fields": fields}
        # Field messages also at the top level, the shape DRF clients expect.
        body.update({k: v for k, v in fields.items() if k not in body})
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        body = {"error": str(code), "detail": str(detail)}
    # Messages may quote the input, lone surrogates included.
    response.data = utf8_safe(body)
    return response


# Also for unsafe methods: a POST to no API path is a 404, not a CSRF failure page.
@csrf_exempt
def json_404(request, exception=None):
    return JsonResponse({"error": "not_found", "detail": "Not found."}, status=404)


def json_500(request):
    return JsonResponse({"error": "server_error", "detail": "Internal server error."}, status=500)


def json_400(request, exception=None):
    return JsonResponse({"error": "bad_request", "detail": "Bad request."}, status=400)


def json_403(request, exception=None):
    return JsonResponse({"error": "permission_denied", "detail": "Forbidden."}, status=403)
