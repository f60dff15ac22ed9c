"""Tolerance for real chargers: which faults of a station's request are known,
harmless vendor quirks, and the request as it is then stored.

`tolerate(action, payload, received_at)` is called only for a request the
compiled validator refused (a conforming frame costs nothing extra). It walks
the payload against the action's schema, collecting every fault, not just the
first. If each fault is a known quirk it answers the payload normalised (a
copy; values kept in full) and the violations found; otherwise None: the
frame is refused with the CALLERROR the schema gives.

Known quirks, each seen on real chargers:
- a string longer than its maxLength (serial numbers of 26-33 characters);
  never an idTag that authorises (Authorize, StartTransaction), only the
  informational one of StopTransaction;
- a StatusNotification `errorCode` outside the enum: stored as `OtherError`,
  the vendor's code kept as vendor error code;
- `sampledValue: []`;
- an unknown `context`, `measurand` or `unit` spelling: read as the value it
  spells in another case (`kwh` is `kWh`, then converted like any kWh), kept
  as sent when it spells none;
- a sampled `value` sent as a JSON number: stored as its decimal text;
- a property the schema does not define (dropped);
- StartTransaction without `timestamp`: the time the frame was received;
- a date-time without zone: UTC.
"""

import math
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ocpp16 import schemas
from ocpp16.times import format_time

LENIENT = "lenient"  # the policy that takes known quirks (the other: "strict")

# Longest text taken past a schema's maxLength (what the columns hold). Longer
# is not a vendor's long serial number but junk.
LONG_TEXT_LIMIT = 255
# Longest unknown enum spelling taken (unit, measurand, context, errorCode).
SPELLING_LIMIT = 48


class Quirk(StrEnum):
    TOO_LONG = "too_long"
    UNKNOWN_ERROR_CODE = "unknown_error_code"
    EMPTY_SAMPLED_VALUE = "empty_sampled_value"
    UNKNOWN_SPELLING = "unknown_spelling"
    NUMBER_VALUE = "number_value"
    EXTRA_PROPERTY = "extra_property"
    MISSING_TIMESTAMP = "missing_timestamp"
    ZONELESS_TIMESTAMP = "zoneless_timestamp"


@dataclass(frozen=True)
class Violation:
    """One kind of fault in one field of a request (the field as a dotted path without indexes)."""

    quirk: Quirk
    field: str
    detail: str


@dataclass(frozen=True)
class Tolerated:
    payload: dict
    violations: tuple[Violation, ...]


@dataclass(frozen=True)
class _Fault:
    rule: str
    path: tuple  # keys and list indexes from the payload's root
    value: object
    node: dict  # the schema of the value at `path`
    name: str = ""  # the missing or extra property, for required / additionalProperties


# Walking the schema ---------------------------------------------------------


def _is_type(value, expected: str) -> bool:
    # As the compiled validator reads the types (fastjsonschema): bool is no
    # number, 1.0 is an integer.
    if expected == "string":
        return isinstance(value, str)
    if expected == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "null":
        return value is None
    return True


def _resolve(node: dict, root: dict) -> dict:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        for part in ref[2:].split("/"):
            root = root[part]
        return root
    return node


def _faults(value, node: dict, root: dict, path: tuple, zoned: re.Pattern, out: list) -> None:
    node = _resolve(node, root)
    expected = node.get("type")
    if expected is not None and not any(
        _is_type(value, t) for t in (expected if isinstance(expected, list) else [expected])
    ):
        out.append(_Fault("type", path, value, node))
        return  # nothing below a value of the wrong type can be read
    if "enum" in node and value not in node["enum"]:
        out.append(_Fault("enum", path, value, node))
    if isinstance(value, str):
        if "maxLength" in node and len(value) > node["maxLength"]:
            out.append(_Fault("maxLength", path, value, node))
        if node.get("format") == "date-time" and not zoned.match(value):
            out.append(_Fault("format", path, value, node))
    elif isinstance(value, dict):
        properties = node.get("properties", {})
        for name in node.get("required", ()):
            if name not in value:
                out.append(_Fault("required", path, value, node, name))
        for name, item in value.items():
            if name in properties:
                _faults(item, properties[name], root, (*path, name), zoned, out)
            elif node.get("additionalProperties") is False:
                out.append(_Fault("additionalProperties", path, value, node, name))
    elif isinstance(value, list):
        if len(value) < node.get("minItems", 0):
            out.append(_Fault("minItems", path, value, node))
        if "maxItems" in node and len(value) > node["maxItems"]:
            out.append(_Fault("maxItems", path, value, node))
        if isinstance(node.get("items"), dict):
            for index, item in enumerate(value):
                _faults(item, node["items"], root, (*path, index), zoned, out)


# The quirks ---------------------------------------------------------------------

_SPELLED = ("context", "measurand", "unit")
_UNIT_ALIASES = {"%": "Percent", "hz": "Hertz", "°c": "Celsius", "degc": "Celsius"}
# Only these identify a driver and decide an authorisation; a longer one is not a quirk.
_AUTHORISING = {"idTag", "parentIdTag"}


def _field(path: tuple, name: str = "") -> str:
    return ".".join(str(p) for p in (*path, name) if p != "" and not isinstance(p, int))


def _in_sampled_value(path: tuple) -> bool:
    return len(path) >= 3 and path[-3] == "sampledValue" and isinstance(path[-2], int)


def _canonical(value: str, node: dict, key: str) -> str | None:
    spelled = value.strip().casefold()
    for member in node.get("enum", ()):
        if member.casefold() == spelled:
            return member
    return _UNIT_ALIASES.get(spelled) if key == "unit" else None


def _number_text(value: int | float) -> str:
    # Python's repr of a float is the shortest text that reads back the same.
    return str(int(value)) if isinstance(value, int) else repr(value)


class _Refused(Exception):
    pass


def _quirk(action: str, fault: _Fault, received_at: datetime):
    """(violation, fix) for a known quirk; `fix(payload)` normalises the copy. _Refused otherwise."""
    path, value, key = fault.path, fault.value, (fault.path[-1] if fault.path else "")
    if fault.rule == "maxLength":
        authorising = key in _AUTHORISING and action != "StopTransaction"
        if authorising or len(value) > LONG_TEXT_LIMIT:
            raise _Refused
        detail = f"{len(value)} characters, at most {fault.node['maxLength']} allowed; kept in full"
        return Violation(Quirk.TOO_LONG, _field(path), detail), None
    if fault.rule == "enum" and isinstance(value, str) and len(value) <= SPELLING_LIMIT:
        if action == "StatusNotification" and path == ("errorCode",):
            detail = f"errorCode {value!r} is none of OCPP's; stored as OtherError, {value!r} as vendor code"

            def fix(payload):
                payload["errorCode"] = "OtherError"
                vendor = payload.get("vendorErrorCode")
                payload["vendorErrorCode"] = f"{value}: {vendor}" if vendor else value

            return Violation(Quirk.UNKNOWN_ERROR_CODE, "errorCode", detail), fix
        if key in _SPELLED and _in_sampled_value(path):
            canonical = _canonical(value, fault.node, key)
            if canonical is None:
                return Violation(Quirk.UNKNOWN_SPELLING, _field(path), f"{key} {value!r} kept as sent"), None
            detail = f"{key} {value!r} read as {canonical!r}"
            return Violation(Quirk.UNKNOWN_SPELLING, _field(path), detail), _setter(path, canonical)
    number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if fault.rule == "type" and key == "value" and _in_sampled_value(path) and number:
        text = _number_text(value)
        detail = f"value sent as the number {text}, not a string"
        return Violation(Quirk.NUMBER_VALUE, _field(path), detail), _setter(path, text)
    if fault.rule == "minItems" and key == "sampledValue" and value == []:
        return Violation(Quirk.EMPTY_SAMPLED_VALUE, _field(path), "a meter value without samples"), None
    if fault.rule == "additionalProperties":
        detail = f"{fault.name!r} is not defined here; ignored"
        return Violation(Quirk.EXTRA_PROPERTY, _field(path, fault.name), detail), _deleter(path, fault.name)
    if fault.rule == "required" and action == "StartTransaction" and path == () and fault.name == "timestamp":
        stamp = format_time(received_at)
        detail = "no timestamp; the time the frame was received is used"
        return Violation(Quirk.MISSING_TIMESTAMP, "timestamp", detail), _setter(("timestamp",), stamp)
    if fault.rule == "format" and schemas.DATE_TIME.match(value):
        detail = f"{value!r} has no time zone; read as UTC"
        return Violation(Quirk.ZONELESS_TIMESTAMP, _field(path), detail), _setter(path, value + "Z")
    raise _Refused


def _parent(payload, path: tuple):
    for part in path[:-1]:
        payload = payload[part]
    return payload


def _setter(path: tuple, new):
    def fix(payload):
        _parent(payload, path)[path[-1]] = new

    return fix


def _deleter(path: tuple, name: str):
    def fix(payload):
        _parent(payload, (*path, name)).pop(name, None)

    return fix


def _copy(value):
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def tolerate(action: str, payload: dict, received_at: datetime) -> Tolerated | None:
    """The request normalised and its violations (once per kind and field) if
    every fault is a known quirk; None if any is not (refuse the frame)."""
    faults: list[_Fault] = []
    _faults(payload, schemas.schema(action), schemas.schema(action), (), schemas.DATE_TIME_ZONED, faults)
    if not faults:
        return None  # refused for a reason the walk does not see: not ours to excuse
    try:
        found = [_quirk(action, fault, received_at) for fault in faults]
    except _Refused:
        return None
    normalised = _copy(payload)
    violations: dict[tuple, Violation] = {}
    for violation, fix in found:
        violations.setdefault((violation.quirk, violation.field), violation)
        if fix is not None:
            fix(normalised)
    return Tolerated(normalised, tuple(violations.values()))
