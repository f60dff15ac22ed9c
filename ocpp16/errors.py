"""OCPP-J 1.6 CALLERROR codes, spelled as the 1.6 specification spells them."""

from enum import StrEnum


class CallErrorCode(StrEnum):
    NOT_IMPLEMENTED = "NotImplemented"
    NOT_SUPPORTED = "NotSupported"
    INTERNAL_ERROR = "InternalError"
    PROTOCOL_ERROR = "ProtocolError"
    SECURITY_ERROR = "SecurityError"
    FORMATION_VIOLATION = "FormationViolation"
    PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
    # Sic: OCPP-J 1.6 spells it with one "r".
    OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"
    TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
    GENERIC_ERROR = "GenericError"


class OCPPCallError(Exception):
    """Answer the current CALL with a CALLERROR."""

    def __init__(
        self, code: CallErrorCode, description: str, details: dict | None = None, unique_id: str | None = None
    ):
        super().__init__(description)
        self.code = code
        self.unique_id = unique_id
        self.description = description[:255]
        self.details = details or {}
