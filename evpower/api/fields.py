"""Serializer fields shared by the API apps."""

from rest_framework import serializers


def utf8_safe(value):
    """`value` with lone surrogates in its strings (and dict keys) written as `\\udXXX` text.

    JSON may carry them (`"\\ud800"`), Python decodes them, but they have no
    UTF-8 encoding: the JSON renderer fails on them with a 500."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {utf8_safe(k): utf8_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [utf8_safe(v) for v in value]
    return value


class StoredJSONField(serializers.JSONField):
    """JSON as stored, from stations or users: renderable whatever strings it holds."""

    def to_representation(self, value):
        return utf8_safe(super().to_representation(value))
