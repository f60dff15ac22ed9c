"""The OpenAPI documentation of `POST /ocpp/send_command`: one request schema
per central-system command, its `payload` the OCPP 1.6 request schema as
`ocpp16.schemas` applies it (the one every payload is validated against),
chosen by `command` (a `oneOf` with a discriminator). A drf-spectacular
postprocessing hook, because the schemas are JSON Schema documents, not
serializers."""

import copy
import functools

from ocpp16 import schemas

SEND_COMMAND_PATH = "/ocpp/send_command"
# Draft-04 keywords that an OpenAPI 3.0 schema object does not have.
_NOT_OPENAPI = {"$schema", "$id", "id", "javaType", "additionalItems", "definitions"}


def component_name(action: str) -> str:
    return f"SendCommand{action}"


def _openapi(node):
    """A JSON-Schema node as an OpenAPI 3.0 schema object (property names kept)."""
    if isinstance(node, list):
        return [_openapi(item) for item in node]
    if not isinstance(node, dict):
        return node
    result = {}
    for key, value in node.items():
        if key in _NOT_OPENAPI:
            continue
        if key == "properties":
            result[key] = {name: _openapi(schema) for name, schema in value.items()}
        else:
            result[key] = _openapi(value)
    return result


@functools.cache
def payload_schema(action: str) -> dict:
    """The OCPP 1.6 request schema of `action`, as an OpenAPI schema object."""
    schema = _openapi(schemas.schema(action))  # a copy: the cached schema stays as it is
    schema["description"] = f"The {action} request payload (OCPP 1.6, camelCase), sent as given."
    return schema


def command_component(action: str) -> dict:
    return {
        "type": "object",
        "title": action,
        "properties": {
            "station_id": {"type": "string", "maxLength": 48, "description": "The station to command."},
            "command": {"type": "string", "enum": [action]},
            "payload": payload_schema(action),
        },
        "required": ["station_id", "command", "payload"],
    }


def document_send_command(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: the request body of send_command
    becomes a `oneOf` of the nineteen commands, keyed by `command`."""
    operation = result.get("paths", {}).get(SEND_COMMAND_PATH, {}).get("post")
    if operation is None:
        return result
    components = result.setdefault("components", {}).setdefault("schemas", {})
    refs = {}
    for action in schemas.CENTRAL_ACTIONS:
        components[component_name(action)] = command_component(action)
        refs[action] = f"#/components/schemas/{component_name(action)}"
    body = {
        "oneOf": [{"$ref": ref} for ref in refs.values()],
        "discriminator": {"propertyName": "command", "mapping": refs},
    }
    operation["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": copy.deepcopy(body)}},
    }
    components.pop("SendCommandInput", None)
    return result
