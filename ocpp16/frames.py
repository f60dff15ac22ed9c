"""OCPP-J framing: a frame's text as the `ocpp` package's message classes."""

import json
import math

from ocpp.messages import Call, CallError, CallResult

from ocpp16.errors import CallErrorCode, OCPPCallError

MESSAGE_TYPE_NAMES = {2: "CALL", 3: "CALLRESULT", 4: "CALLERROR"}


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is beyond a float")
    return value


def parse_frame(raw: str) -> Call | CallResult | CallError:
    """A frame as the `ocpp` package's Call, CallResult or CallError; OCPPCallError if it is none."""
    try:
        # NaN, Infinity and numbers past a float are refused, as JSON does:
        # Python's parser takes them, but no JSON writer (the message log's)
        # can give them back, and one such frame failed the log rows of every
        # station sharing its commit.
        data = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except (ValueError, TypeError) as exc:
        raise OCPPCallError(CallErrorCode.FORMATION_VIOLATION, "Frame is not valid JSON.") from exc
    # The unique id, where there is one, lets the CALLERROR answer the frame.
    unique_id = (
        data[1][:36] if isinstance(data, list) and len(data) > 1 and isinstance(data[1], str) else None
    )
    if not isinstance(data, list) or len(data) < 3:
        raise OCPPCallError(
            CallErrorCode.PROTOCOL_ERROR, "Frame must be a JSON array [type, id, ...].", unique_id=unique_id
        )
    kind = data[0]
    if not unique_id or len(data[1]) > 36:
        raise OCPPCallError(CallErrorCode.PROTOCOL_ERROR, "UniqueId must be a string of 1-36 characters.")
    if kind == 2 and len(data) == 4 and isinstance(data[2], str):
        if not isinstance(data[3], dict):
            raise OCPPCallError(
                CallErrorCode.FORMATION_VIOLATION, "Payload must be a JSON object.", unique_id=unique_id
            )
        return Call(unique_id, data[2], data[3])
    if kind == 3 and len(data) == 3:
        return CallResult(unique_id, data[2])
    if kind == 4 and len(data) in (4, 5):
        return CallError(unique_id, data[2], data[3], data[4] if len(data) == 5 else {})
    raise OCPPCallError(
        CallErrorCode.PROTOCOL_ERROR,
        "Frame does not match CALL, CALLRESULT or CALLERROR.",
        unique_id=unique_id,
    )
