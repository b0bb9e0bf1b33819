"""A small OpenAI-compatible chat-completions server on 127.0.0.1 for the captioner tests."""

from __future__ import annotations

import base64
import json
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler

from tests.http_fixtures import serve


class Handler(BaseHTTPRequestHandler):
    calls: list[dict] = []
    failures: dict[str, int] = {}

    def log_message(self, *args):
        pass

    def _reply(self, status: int, payload: dict | str):
        body = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        if self.path != "/v1/chat/completions":
            return self._reply(404, {"error": "not found"})
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Handler.calls.append(request)
        model = request["model"]
        if Handler.failures.get(model, 0) > 0:
            Handler.failures[model] -= 1
            return self._reply(503, {"error": "busy"})
        if model == "broken":
            return self._reply(400, {"error": "bad request"})
        if model == "slow":
            time.sleep(2)
        content = request["messages"][0]["content"]
        if isinstance(content, list):  # captioning: text + image_url parts
            url = next(p["image_url"]["url"] for p in content if p["type"] == "image_url")
            header, data = url.split(",", 1)
            raw = base64.b64decode(data)
            kind = "jpeg" if raw[:2] == b"\xff\xd8" else "png" if raw[:4] == b"\x89PNG" else "?"
            text = f"a photo ({kind}, {len(raw)} bytes)"
        else:  # fusion
            first = content.split("Real-world sentence (keep its specific real-world details): ")[1]
            text = "Fused: " + first.split("\n")[0]
        self._reply(200, {"choices": [{"message": {"role": "assistant", "content": text}}]})


@contextmanager
def fake_llm():
    Handler.calls, Handler.failures = [], {}
    with serve(Handler) as url:
        yield f"{url}/v1", Handler
