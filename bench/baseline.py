"""The baseline: what a user would write instead of EVPower.

A minimal OCPP 1.6J central system on the `ocpp` package and `websockets`
alone: no database, no channel layer, the package's own JSON-schema
validation. It answers the station actions the benchmark sends and offers
`POST /send_command` (`{"station_id","command","payload"}`, payload in
camelCase as in EVPower's API) on a second port, so the command round trip
can be compared.

    python bench/baseline.py --port 9000 --http-port 9001
"""

import argparse
import asyncio
import itertools
import json
from datetime import UTC, datetime

from ocpp.charge_point import camel_to_snake_case
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus
from websockets.asyncio.server import serve

stations: dict[str, "CentralSystem"] = {}
_transaction_ids = itertools.count(1)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class CentralSystem(ChargePoint):
    @on(Action.boot_notification)
    async def on_boot(self, charge_point_vendor, charge_point_model, **kwargs):
        return call_result.BootNotification(
            current_time=_now(), interval=300, status=RegistrationStatus.accepted
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self):
        return call_result.Heartbeat(current_time=_now())

    @on(Action.status_notification)
    async def on_status(self, connector_id, error_code, status, **kwargs):
        return call_result.StatusNotification()

    @on(Action.meter_values)
    async def on_meter_values(self, connector_id, meter_value, **kwargs):
        return call_result.MeterValues()

    @on(Action.start_transaction)
    async def on_start(self, connector_id, id_tag, meter_start, timestamp, **kwargs):
        return call_result.StartTransaction(
            transaction_id=next(_transaction_ids), id_tag_info={"status": AuthorizationStatus.invalid}
        )


async def on_connect(websocket):
    station_id = websocket.request.path.rstrip("/").rsplit("/", 1)[-1]
    cp = CentralSystem(station_id, websocket)
    stations[station_id] = cp
    try:
        await cp.start()
    except Exception:
        pass
    finally:
        if stations.get(station_id) is cp:
            del stations[station_id]


async def send_command(body: dict) -> tuple[int, dict]:
    cp = stations.get(body.get("station_id"))
    if cp is None:
        return 409, {"error": "not_connected"}
    request = getattr(call, body["command"])(**camel_to_snake_case(body.get("payload") or {}))
    try:
        response = await cp.call(request, suppress=False)
    except TimeoutError:
        return 504, {"error": "timeout"}
    return 200, {"status": getattr(response, "status", "Accepted"), "response": response.__dict__}


async def on_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A keep-alive HTTP/1.1 loop that only knows POST /send_command."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = json.loads(await reader.readexactly(length)) if length else {}
            status, answer = await send_command(body)
            data = json.dumps(answer, default=str).encode()
            writer.write(
                b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                % (status, len(data), data)
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(host: str, port: int, http_port: int, backlog: int) -> None:
    http = await asyncio.start_server(on_http, host, http_port)
    ws = serve(
        on_connect,
        host,
        port,
        subprotocols=["ocpp1.6"],
        compression=None,
        ping_interval=None,
        backlog=backlog,
    )
    async with ws, http:
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    import resource

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--http-port", type=int, default=9001)
    parser.add_argument("--backlog", type=int, default=100, help="listen backlog (asyncio's default: 100)")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main(args.host, args.port, args.http_port, args.backlog))
