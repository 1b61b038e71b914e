"""A reverse proxy that lets through only requests carrying the server's token.

``chroma run`` (chromadb 1.x, a Rust server) has no authentication of its own: its
auth hooks are a no-op and the ``CHROMA_SERVER_AUTHN_*`` settings of the old Python
server are ignored. So ``huddle memory serve --token-env/--new-token`` binds Chroma to
a loopback port and puts this proxy on the public address: every request, heartbeat
included, must carry ``Authorization: Bearer TOKEN`` (or ``X-Chroma-Token: TOKEN``,
Chroma's own header), compared in constant time; anything else gets 401 before its
body is read. Nothing is logged, so the token never reaches a log.

Example:
    >>> server = token_proxy("127.0.0.1", 0, upstream_port=8000, token="s3cret-token-of-16+")
    >>> server.server_address[0]
    '127.0.0.1'
    >>> server.server_close()
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from studio.exposure import token_matches

__all__ = ["token_proxy"]

_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
        "transfer-encoding", "upgrade", "host", "content-length", "authorization", "x-chroma-token"}
"""Request and response headers the proxy does not pass on (hop-by-hop ones, and the token)."""
_IDLE_S = 120
"""A connection that sends nothing for this long is closed (a slow client cannot hold a thread forever)."""


def _given_token(headers) -> str | None:
    auth = headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return headers.get("X-Chroma-Token")


def _handler(upstream_port: int, token: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = _IDLE_S
        server_version = "huddle-memory"
        sys_version = ""

        def setup(self) -> None:
            super().setup()
            # headers and body leave in two writes: without this, Nagle's algorithm and the client's delayed ACK
            # hold the body back ~40 ms on every answer
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format, *args):  # noqa: A002 - the base class names it so
            pass  # never log: request lines would be noise, and headers hold the token

        def _reply(self, status: int, body: bytes, headers: Sequence[tuple[str, str]] = ()) -> None:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, status: int, name: str, message: str) -> None:
            self.close_connection = True
            self._reply(status, json.dumps({"error": name, "message": message}).encode(),
                        [("Content-Type", "application/json"), ("Connection", "close")])

        def _forward(self) -> None:
            if not token_matches(_given_token(self.headers), token):
                self._error(401, "AuthError", "401 Unauthorized: this Huddle memory server needs its token "
                                              "(Authorization: Bearer TOKEN)")
                return
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                self._error(411, "LengthRequired", "send a Content-Length")
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=600)
            try:
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                answer = upstream.getresponse()
                data = answer.read()
            except OSError as exc:
                self._error(502, "BadGateway", f"the Chroma server behind this proxy did not answer: {exc}")
                return
            finally:
                upstream.close()
            self._reply(answer.status, data, [(k, v) for k, v in answer.getheaders() if k.lower() not in _HOP])

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _forward

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def token_proxy(host: str, port: int, *, upstream_port: int, token: str) -> ThreadingHTTPServer:
    """A bound (not yet serving) proxy on ``host:port`` to ``127.0.0.1:upstream_port`` that asks for ``token``.

    Call ``serve_forever()`` on it; ``shutdown()`` from another thread stops it.

    Raises:
        OSError: ``host:port`` cannot be listened on.
    """
    server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6}) if ":" in host else _Server
    return server_class((host, port), _handler(upstream_port, token))
