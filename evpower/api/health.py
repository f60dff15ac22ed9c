"""`GET /health`: really touches the database and the channel layer."""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

logger = logging.getLogger(__name__)

# Seconds the channel-layer round trip may take before the layer counts as down.
PROBE_TIMEOUT = 3


def _database_ok(db=None) -> bool:
    """True when `db` (default: the default connection) answers a query."""
    try:
        with (connection if db is None else db).cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.warning("Health: database unreachable", exc_info=True)
        return False


async def _channel_layer_round_trip() -> bool:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "health.ping"})
    message = await layer.receive(channel)
    return message.get("type") == "health.ping"


def _channel_layer_ok() -> bool:
    async def probe():
        try:
            return await asyncio.wait_for(_channel_layer_round_trip(), timeout=PROBE_TIMEOUT)
        except Exception:
            logger.warning("Health: channel layer unreachable", exc_info=True)
            return False

    return async_to_sync(probe)()


class HealthOutput(serializers.Serializer):
    # Plain strings ("ok" or "down"): choice fields would add enum components
    # whose names collide with the other `status` enums of the schema.
    status = serializers.CharField(help_text='"ok" or "down"')
    database = serializers.CharField(help_text='"ok" or "down"')
    channel_layer = serializers.CharField(help_text='"ok" or "down"')


class HealthView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses={200: HealthOutput, 503: HealthOutput})
    def get(self, request):
        checks = {
            "database": "ok" if _database_ok() else "down",
            "channel_layer": "ok" if _channel_layer_ok() else "down",
        }
        healthy = all(v == "ok" for v in checks.values())
        return Response({"status": "ok" if healthy else "down", **checks}, status=200 if healthy else 503)
