"""OCPP 1.6 JSON-schema validation with validators compiled once (fastjsonschema).

The schemas are the ones the `ocpp` package ships. Schema failures map to the
OCPP-J 1.6 error codes (the package uses other spellings, e.g. FormatViolation).
"""

import copy
import functools
import json
import re
from pathlib import Path

import fastjsonschema
import ocpp

from ocpp16.errors import CallErrorCode, OCPPCallError

# OCPP 1.6 integers are 32-bit: the largest id, connector or level a schema allows here.
MAX_INTEGER = 2**31 - 1

_SCHEMA_DIR = Path(ocpp.__file__).parent / "v16" / "schemas"

# Lenient on purpose about precision and separators: real stations write
# times oddly; we parse what we can and reject only junk. A station's request
# must give a zone (RFC 3339); one that does not is a known quirk, taken under
# the lenient tolerance policy (see `tolerance`) as UTC. What the central
# system sends (commands from the API) may leave the zone out, read as UTC.
_DATE_TIME_ANY_ZONE = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?$"
DATE_TIME = re.compile(_DATE_TIME_ANY_ZONE)
DATE_TIME_ZONED = re.compile(_DATE_TIME_ANY_ZONE.replace(")?$", ")$"))

_RULE_CODES = {
    "required": CallErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "minItems": CallErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "maxItems": CallErrorCode.OCCURENCE_CONSTRAINT_VIOLATION,
    "type": CallErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "maxLength": CallErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "format": CallErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "additionalProperties": CallErrorCode.FORMATION_VIOLATION,
}

# Actions a station sends, and those the central system sends.
CORE_STATION_ACTIONS = (
    "Authorize",
    "BootNotification",
    "DataTransfer",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StartTransaction",
    "StatusNotification",
    "StopTransaction",
)
# The "Improved security for OCPP 1.6-J" extension (sent by EVerest-based and
# other current chargers on plain 1.6J); the package ships their schemas too.
SECURITY_STATION_ACTIONS = (
    "LogStatusNotification",
    "SecurityEventNotification",
    "SignCertificate",
    "SignedFirmwareStatusNotification",
)
STATION_ACTIONS = CORE_STATION_ACTIONS + SECURITY_STATION_ACTIONS
CENTRAL_ACTIONS = (
    "CancelReservation",
    "ChangeAvailability",
    "ChangeConfiguration",
    "ClearCache",
    "ClearChargingProfile",
    "DataTransfer",
    "GetCompositeSchedule",
    "GetConfiguration",
    "GetDiagnostics",
    "GetLocalListVersion",
    "RemoteStartTransaction",
    "RemoteStopTransaction",
    "ReserveNow",
    "Reset",
    "SendLocalList",
    "SetChargingProfile",
    "TriggerMessage",
    "UnlockConnector",
    "UpdateFirmware",
)


def _strip_multiple_of(node):
    # The 1.6 schemas demand multipleOf 0.1 on charging rates; with binary
    # floats that rejects valid values such as 21.4, so it is not enforced.
    if isinstance(node, dict):
        node.pop("multipleOf", None)
        for value in node.values():
            _strip_multiple_of(value)
    elif isinstance(node, list):
        for value in node:
            _strip_multiple_of(value)
    return node


@functools.cache
def schema(name: str) -> dict:
    """The JSON schema of `name` ("BootNotification", "BootNotificationResponse") as we apply it."""
    loaded = json.loads((_SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8-sig"))
    loaded = _strip_multiple_of(loaded)
    loaded.pop("$schema", None)
    return loaded


def date_time_pattern(name: str) -> re.Pattern:
    """How a date-time in `name`'s payload must look: zoned in what a station asks."""
    return DATE_TIME_ZONED if name in STATION_ACTIONS else DATE_TIME


@functools.cache
def _validator(name: str):
    return fastjsonschema.compile(
        copy.deepcopy(schema(name)), formats={"date-time": date_time_pattern(name).pattern}
    )


def validate(action: str, payload, *, response: bool = False) -> None:
    """Validate a request (or response) payload; raise OCPPCallError with the 1.6 code."""
    if not isinstance(payload, dict):
        raise OCPPCallError(CallErrorCode.FORMATION_VIOLATION, "Payload must be a JSON object.")
    try:
        _validator(f"{action}Response" if response else action)(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        code = _RULE_CODES.get(exc.rule, CallErrorCode.PROPERTY_CONSTRAINT_VIOLATION)
        raise OCPPCallError(code, exc.message, {"path": exc.name}) from exc


def warm_up() -> None:
    """Compile every validator now, not on the first frame."""
    for action in set(STATION_ACTIONS) | set(CENTRAL_ACTIONS):
        _validator(action)
        _validator(f"{action}Response")
