"""The fault proxy against a real echo server on a loopback port."""

import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from tests.faults.tcp_proxy import TcpFaultProxy


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture
def proxy() -> Iterator[TcpFaultProxy]:
    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo) as echo:
        echo.daemon_threads = True
        thread = threading.Thread(target=echo.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        thread.start()
        with TcpFaultProxy("127.0.0.1", echo.server_address[1]) as faults:
            yield faults
        echo.shutdown()


def connect(proxy: TcpFaultProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=2)


def test_forwards_both_ways(proxy: TcpFaultProxy) -> None:
    with connect(proxy) as client:
        client.sendall(b"hello")
        assert client.recv(5) == b"hello"
    assert proxy.connections == 1


def test_refusing_refuses_new_connections_and_resets_open_ones(proxy: TcpFaultProxy) -> None:
    with connect(proxy) as client:
        client.sendall(b"up")
        assert client.recv(2) == b"up"
        proxy.refuse()
        with pytest.raises(ConnectionResetError):
            client.recv(1)
    with pytest.raises(ConnectionRefusedError):
        connect(proxy)

    proxy.forward()
    with connect(proxy) as client:
        client.sendall(b"back")
        assert client.recv(4) == b"back"


def test_a_black_hole_accepts_but_answers_nothing(proxy: TcpFaultProxy) -> None:
    proxy.black_hole()
    with connect(proxy) as client:
        client.settimeout(0.3)
        client.sendall(b"anyone?")
        with pytest.raises(TimeoutError):
            client.recv(1)


class _RecordingServer(socketserver.ThreadingTCPServer):
    """Answers ``ok`` to whatever it receives, and keeps what it received."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Recorder)
        self.received: list[bytes] = []


class _Recorder(socketserver.BaseRequestHandler):
    server: _RecordingServer

    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.server.received.append(data)
            self.request.sendall(b"ok")


def test_losing_answers_lets_requests_through_drops_the_answers_and_resets_when_it_ends() -> None:
    with _RecordingServer() as server:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
        with TcpFaultProxy("127.0.0.1", server.server_address[1]) as proxy:
            proxy.lose_answers()
            with connect(proxy) as client:
                client.settimeout(0.5)
                client.sendall(b"do it")
                with pytest.raises(TimeoutError):
                    client.recv(1)
                proxy.forward()
                with pytest.raises(ConnectionResetError):
                    client.recv(1)
        server.shutdown()
    assert server.received == [b"do it"]


def test_cutting_resets_every_open_connection(proxy: TcpFaultProxy) -> None:
    with connect(proxy) as first, connect(proxy) as second:
        first.sendall(b"1")
        second.sendall(b"2")
        assert (first.recv(1), second.recv(1)) == (b"1", b"2")
        proxy.cut()
        for client in (first, second):
            with pytest.raises(ConnectionResetError):
                client.recv(1)
    with connect(proxy) as client:
        client.sendall(b"again")
        assert client.recv(5) == b"again"
