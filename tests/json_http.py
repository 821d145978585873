"""A loopback HTTP handler that answers JSON: the base of the tests' stand-ins for public-internet
services (Microsoft Graph, Google Directory, an OIDC provider)."""
from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler


class JsonHandler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet: the tests assert on what was asked instead
        pass

    def _json(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
