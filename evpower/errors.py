"""The project's domain errors: services raise these, never HTTP.

Each error has a `kind`; `evpower.api.errors` maps kinds to HTTP status codes
in one table, so a service says what went wrong and the API alone decides
how that reads over HTTP."""

from enum import StrEnum


class Kind(StrEnum):
    INVALID = "invalid"  # the input breaks a rule
    FORBIDDEN = "forbidden"  # the actor may not do this
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"  # not in this state
    STATION_ERROR = "station_error"  # the station answered with an error
    STATION_TIMEOUT = "station_timeout"  # the station's answer never came
    UNAVAILABLE = "unavailable"  # a service we need is down
    TOO_MANY = "too_many"  # locked out after repeated failures


class DomainError(Exception):
    kind: Kind = Kind.INVALID

    def __init__(self, code: str, detail: str, extra: dict | None = None):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra or {}


class Invalid(DomainError):
    """Bad input; `fields` names the fields at fault (answered like a serializer's errors)."""

    kind = Kind.INVALID

    def __init__(self, fields: dict[str, list[str]]):
        super().__init__("validation_error", "Invalid input.", {})
        self.fields = fields

    @classmethod
    def field(cls, name: str, message: str) -> "Invalid":
        return cls({name: [message]})


class Forbidden(DomainError):
    kind = Kind.FORBIDDEN


class NotFound(DomainError):
    kind = Kind.NOT_FOUND


class Conflict(DomainError):
    kind = Kind.CONFLICT


class Unavailable(DomainError):
    kind = Kind.UNAVAILABLE


class TooManyAttempts(DomainError):
    kind = Kind.TOO_MANY
