"""`/dashboard`: the staff's live view of the network, and its browser
WebSocket (`/live/dashboard`), fed by `live_feed`'s coalesced updates."""

import asyncio
import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth.views import redirect_to_login
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from billing.network_status import energy_today, network_stations
from evpower.access import Can, may
from evpower.clock import utcnow
from ocpp_gateway import live_feed


@require_GET
def dashboard_view(request: HttpRequest) -> HttpResponse:
    if not may(request.user, Can.BACK_OFFICE):
        return redirect_to_login(request.get_full_path(), "admin:login")
    return render(
        request,
        "dashboard.html",
        {"snapshot": {"stations": network_stations(), "energy": energy_today(now=utcnow())}},
    )


class DashboardConsumer(AsyncJsonWebsocketConsumer):
    """One browser watching: staff only (session cookie), pushed what changed."""

    renew_task = None

    async def connect(self):
        if not may(self.scope.get("user"), Can.BACK_OFFICE):
            await self.close()
            return
        await self.channel_layer.group_add(live_feed.GROUP, self.channel_name)
        await self.accept()
        await live_feed.viewer_joined()
        self.renew_task = asyncio.create_task(self._renew())
        await self._push(None)

    async def _renew(self):
        while True:
            await asyncio.sleep(live_feed.RENEW_SECONDS)
            try:
                await live_feed.viewer_renew()
            except Exception:
                pass  # Redis down: the station side keeps its last answer

    async def disconnect(self, code):
        if self.renew_task is None:
            return
        self.renew_task.cancel()
        live_feed.viewer_left()
        await self.channel_layer.group_discard(live_feed.GROUP, self.channel_name)

    async def dashboard_changed(self, event):
        await self._push(event["stations"])

    async def _push(self, station_pks):
        stations = await database_sync_to_async(network_stations)(station_pks=station_pks)
        energy = await database_sync_to_async(energy_today)(now=utcnow())
        await self.send_json(
            {"type": "update", "full": station_pks is None, "stations": stations, "energy": energy}
        )

    @classmethod
    async def encode_json(cls, content):
        return json.dumps(content, cls=DjangoJSONEncoder)
