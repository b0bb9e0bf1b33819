"""A small HTTP server on 127.0.0.1 with the responses a crawler meets."""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.image_fixtures import jpeg


class Handler(BaseHTTPRequestHandler):
    counters: dict[str, int] = {}
    image = jpeg(seed=3)

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 (http.server's name)
        path = self.path.split("?")[0]
        n = self.counters[path] = self.counters.get(path, 0) + 1
        port = self.server.server_address[1]
        if path == "/ok.jpg":
            self._send(
                200,
                self.image,
                {"Content-Type": "image/jpeg", "X-UA": self.headers.get("User-Agent", "")},
            )
        elif path == "/redirect":
            self._send(302, headers={"Location": "/ok.jpg"})
        elif path == "/redirect-private":
            self._send(302, headers={"Location": "http://10.0.0.1/secret.jpg"})
        elif path == "/redirect-metadata":
            self._send(301, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        elif path == "/loop":
            self._send(302, headers={"Location": f"http://127.0.0.1:{port}/loop"})
        elif path == "/big":
            self._send(200, b"x" * 5000, {"Content-Type": "image/jpeg"})
        elif path == "/big-chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(10):
                self.wfile.write(b"3E8\r\n" + b"y" * 1000 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/noai":
            self._send(200, self.image, {"X-Robots-Tag": "noai, noimageai"})
        elif path == "/flaky":
            if n <= 2:
                self._send(503, b"busy")
            else:
                self._send(200, self.image)
        elif path == "/always-503":
            self._send(503, b"busy")
        elif path == "/slow":
            time.sleep(1.5)
            self._send(200, self.image)
        else:
            self._send(404, b"not found")


class QuietServer(ThreadingHTTPServer):
    """A client that gave up (the timeout tests) is expected: no traceback on stderr for it."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]):
    """Run ``handler`` on a free port of 127.0.0.1 in a thread; yields the base URL."""
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def http_server():
    Handler.counters = {}
    with serve(Handler) as url:
        yield url, Handler
