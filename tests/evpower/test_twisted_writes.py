"""Daphne's (Twisted's) TCP writes reach the socket at once, not a loop turn later."""

import socket

import pytest
from twisted.internet import tcp

from evpower import twisted_writes


class _Reactor:
    """Records what a connection asks of the reactor."""

    def __init__(self) -> None:
        self.writers = set()

    def addWriter(self, descriptor) -> None:
        self.writers.add(descriptor)

    def removeWriter(self, descriptor) -> None:
        self.writers.discard(descriptor)


@pytest.fixture
def pair():
    twisted_writes.apply()  # what evpower.asgi does
    ours, peer = socket.socketpair()
    ours.setblocking(False)
    peer.settimeout(5)
    reactor = _Reactor()
    connection = tcp.Connection(ours, None, reactor)
    connection.connected = True
    yield connection, peer, reactor
    ours.close()
    peer.close()


def test_a_frame_is_on_the_socket_when_write_returns(pair):
    connection, peer, reactor = pair
    connection.write(b'[3,"1",{}]')
    assert peer.recv(100) == b'[3,"1",{}]'
    assert reactor.writers == set()  # no epoll registration, no later loop turn


class _Producer:
    paused = 0

    def pauseProducing(self) -> None:
        self.paused += 1

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


def test_a_websocket_upgraded_from_http_writes_at_once_too(pair):
    # Twisted's HTTP channel stays the socket's streaming producer after the upgrade.
    connection, peer, reactor = pair
    producer = _Producer()
    connection.registerProducer(producer, True)
    connection.write(b'[3,"2",{}]')
    assert peer.recv(100) == b'[3,"2",{}]'
    assert reactor.writers == set()
    assert producer.paused == 0


def test_a_pull_producer_keeps_twisteds_path(pair):
    # It is asked for more when the buffer empties, which only Twisted's path does.
    connection, _, reactor = pair
    connection.registerProducer(_Producer(), False)
    connection.write(b"data")
    assert reactor.writers == {connection}


def test_what_the_socket_does_not_take_is_buffered_in_order(pair):
    connection, peer, reactor = pair
    big = bytes(range(256)) * 40000  # more than a socketpair's buffer takes at once
    connection.write(big)
    assert reactor.writers == {connection}  # the rest when writable, as Twisted does
    connection.write(b"after")  # behind the buffered rest, not before it
    peer.setblocking(False)
    received = bytearray()
    while len(received) < len(big) + 5:
        try:
            received += peer.recv(1 << 20)
        except BlockingIOError:
            connection.doWrite()  # the reactor found it writable
    assert received == big + b"after"
    assert reactor.writers == set()


def test_a_closing_connection_keeps_twisteds_path(pair):
    connection, _, reactor = pair
    connection.disconnecting = True
    connection.write(b"late")
    assert reactor.writers == {connection}
    assert connection._tempDataLen == 4
