"""Twisted's socket writes under Daphne (evpower.daphne_patches): a reply
goes to the socket at once when nothing waits to be sent, instead of a turn
of the event loop later; what the socket cannot take yet is buffered and
sent in order, as Twisted does."""

import socket

import pytest
from twisted.internet import tcp
from twisted.internet.protocol import Protocol

from evpower import daphne_patches


class _Reactor:
    """Records which descriptors wait to be written."""

    def __init__(self) -> None:
        self.writers: set = set()

    def addWriter(self, writer) -> None:  # Twisted's names
        self.writers.add(writer)

    def removeWriter(self, writer) -> None:
        self.writers.discard(writer)

    def removeReader(self, reader) -> None:
        pass

    def callLater(self, delay, func, *args) -> None:
        pass  # (an abort's close: not run here)


@pytest.fixture
def pair():
    daphne_patches.apply()
    ours, peer = socket.socketpair()
    peer.settimeout(1)  # what was not sent is not read: fail, do not hang
    reactor = _Reactor()
    connection = tcp.Connection(ours, Protocol(), reactor=reactor)
    connection.connected = True
    yield connection, peer, reactor
    ours.close()
    peer.close()


def _read_all(peer: socket.socket) -> bytes:
    peer.setblocking(False)
    chunks = []
    while True:
        try:
            chunk = peer.recv(1 << 20)
        except BlockingIOError:
            return b"".join(chunks)
        chunks.append(chunk)


def test_a_write_with_nothing_waiting_is_sent_at_once(pair):
    connection, peer, reactor = pair
    connection.write(b'[3,"1",{}]')
    assert peer.recv(100) == b'[3,"1",{}]'
    assert reactor.writers == set()  # no turn of the loop needed


def test_what_the_socket_cannot_take_is_buffered_and_sent_in_order(pair):
    connection, peer, reactor = pair
    big = bytes(range(256)) * 40_000  # more than a socket buffer holds
    connection.write(big)
    assert reactor.writers == {connection}  # the rest waits for the socket
    connection.write(b"after")  # behind it, not before it
    received = _read_all(peer)
    while reactor.writers:
        connection.doWrite()  # as the reactor calls it once the socket is writable
        received += _read_all(peer)
    assert received == big + b"after"


class _Producer:
    def __init__(self) -> None:
        self.resumed = 0

    def resumeProducing(self) -> None:
        self.resumed += 1

    def pauseProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


def test_a_websocket_upgraded_by_daphne_is_written_at_once(pair):
    """Daphne's HTTP channel stays the socket's streaming producer after the
    upgrade: a streaming producer that is not paused changes nothing."""
    connection, peer, reactor = pair
    connection.registerProducer(_Producer(), True)
    connection.write(b"frame")
    assert peer.recv(100) == b"frame"
    assert reactor.writers == set()


def test_a_pull_producer_is_still_asked_for_more_once_its_data_is_sent(pair):
    connection, peer, _ = pair
    producer = _Producer()
    connection.registerProducer(producer, False)
    resumed = producer.resumed  # registering asks once
    connection.write(b"chunk")
    connection.doWrite()
    assert peer.recv(100) == b"chunk"
    assert producer.resumed == resumed + 1


def test_a_closing_connection_keeps_twisteds_way(pair):
    connection, peer, reactor = pair
    connection.disconnecting = True
    connection.write(b"bye")
    assert reactor.writers == {connection}
    connection.doWrite()
    assert peer.recv(100) == b"bye"


def test_what_is_written_after_an_abort_is_dropped(pair):
    connection, peer, _ = pair
    connection.abortConnection()
    connection.write(b"late")
    peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        peer.recv(100)
