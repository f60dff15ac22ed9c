"""Requests served through the project's ASGI application (evpower.asgi)
in the test's own event loop, as an ASGI server drives it."""

from asgiref.testing import ApplicationCommunicator

from evpower.asgi import django_asgi_app


def scope(path: str, method: str = "GET") -> dict:
    return {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "scheme": "http",
        "headers": [(b"host", b"testserver")],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 5000),
    }


async def serve(
    path: str, disconnect_after: bool, method: str = "GET", headers: tuple = (), body: bytes = b""
) -> int:
    request_scope = scope(path, method)
    request_scope["headers"] += [(name.encode(), value.encode()) for name, value in headers]
    if body:
        request_scope["headers"].append((b"content-length", str(len(body)).encode()))
    app = ApplicationCommunicator(django_asgi_app, request_scope)
    await app.send_input({"type": "http.request", "body": body, "more_body": False})
    start = await app.receive_output(5)
    await app.receive_output(5)  # the body
    if disconnect_after:
        # What Uvicorn answers every receive() once the response is sent.
        await app.send_input({"type": "http.disconnect"})
    await app.wait(5)
    return start["status"]
