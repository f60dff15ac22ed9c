"""Uvicorn's WebSocket protocol as bin/asgi-server runs it: a station's socket
is not paused and resumed around every message."""

import asyncio

from uvicorn.config import Config
from uvicorn.server import ServerState

from evpower.uvicorn_ws import BACKLOG, StationWebSocketProtocol


class _Transport:
    def __init__(self) -> None:
        self.paused = False
        self.pauses = 0

    def pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.paused = False


async def _app(scope, receive, send):  # never called: the test feeds the protocol directly
    raise AssertionError


def _protocol() -> tuple[StationWebSocketProtocol, _Transport]:
    config = Config(app=_app, ws="evpower.uvicorn_ws:StationWebSocketProtocol", lifespan="off")
    config.load()
    assert config.ws_protocol_class is StationWebSocketProtocol
    protocol = StationWebSocketProtocol(config, ServerState(), {}, _loop=asyncio.get_running_loop())
    protocol.transport = transport = _Transport()
    return protocol, transport


def _message(protocol: StationWebSocketProtocol, text: str) -> None:
    # What the protocol does once websockets has parsed a whole text frame.
    protocol.curr_msg_data_type = "text"
    protocol.frames = [text.encode()]
    protocol.send_receive_event_to_app()


async def test_the_socket_is_read_on_while_few_messages_wait():
    protocol, transport = _protocol()
    for n in range(BACKLOG - 1):
        _message(protocol, f'[2,"{n}","Heartbeat",{{}}]')
        assert not transport.paused  # Uvicorn's own protocol pauses at the first
    assert transport.pauses == 0
    assert (await protocol.receive())["text"] == '[2,"0","Heartbeat",{}]'


async def test_reading_stops_when_messages_pile_up_and_resumes_once_taken():
    protocol, transport = _protocol()
    for n in range(BACKLOG):
        _message(protocol, f'[2,"{n}","Heartbeat",{{}}]')
    assert transport.paused and transport.pauses == 1
    taken = [(await protocol.receive())["text"] for _ in range(BACKLOG - 1)]
    assert transport.paused  # still one waiting
    taken.append((await protocol.receive())["text"])
    assert not transport.paused
    assert taken == [f'[2,"{n}","Heartbeat",{{}}]' for n in range(BACKLOG)]


async def test_once_our_close_is_sent_the_socket_is_read_on_for_the_peers_close():
    protocol, transport = _protocol()
    protocol.close_sent = True  # as after the application's websocket.close
    for n in range(BACKLOG + 2):
        protocol.queue.put_nowait({"type": "websocket.receive", "text": str(n)})  # not taken yet
    _message(protocol, '[2,"late","Heartbeat",{}]')
    assert not transport.paused
