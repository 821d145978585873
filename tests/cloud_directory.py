"""Local stand-ins for Microsoft Graph and the Google Admin SDK Directory API on loopback, speaking
their documented shapes: OAuth 2.0 token endpoints (client credentials; a service account's
RS256-signed JWT, checked against its public key), paged user lists (@odata.nextLink;
nextPageToken) and Graph group members. Only for tests: the real services are on the internet."""
from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from http.server import ThreadingHTTPServer

from tests.json_http import JsonHandler
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GRAPH_TOKEN, GOOGLE_TOKEN = "graph-access-token", "google-access-token"


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CloudDirectory:
    def __init__(self, *, tenant: str = "tenant-1", client_id: str = "app-1", client_secret: str = "s3cret",
                 graph_users: list[dict] | None = None, graph_groups: dict[str, tuple[str, list[str]]] | None = None,
                 google_users: list[dict] | None = None, page_size: int = 2) -> None:
        self.tenant, self.client_id, self.client_secret = tenant, client_id, client_secret
        self.graph_users = graph_users or []
        self.graph_groups = graph_groups or {}  # id -> (displayName, member ids)
        self.google_users = google_users or []
        self.page_size = page_size
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.requests: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def service_account_json(self, email: str = "sync@school-project.iam.gserviceaccount.com") -> str:
        pem = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()
        return json.dumps({"type": "service_account", "client_email": email, "private_key": pem,
                           "token_uri": f"{self.base}/token"})

    def start(self) -> "CloudDirectory":
        cloud = self

        class Handler(JsonHandler):

            def do_POST(self) -> None:
                cloud.requests.append(f"POST {self.path}")
                form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
                if self.path == f"/{cloud.tenant}/oauth2/v2.0/token":
                    if (form.get("grant_type") == "client_credentials" and form.get("client_id") == cloud.client_id
                            and form.get("client_secret") == cloud.client_secret
                            and form.get("scope", "").endswith("/.default")):
                        return self._json(200, {"access_token": GRAPH_TOKEN, "token_type": "Bearer", "expires_in": 3599})
                    return self._json(401, {"error": "invalid_client"})
                if self.path == "/token":
                    return self._google_token(form)
                self._json(404, {"error": "not found"})

            def _google_token(self, form: dict) -> None:
                try:
                    head, claims, signature = form["assertion"].split(".")
                    cloud.key.public_key().verify(_unb64(signature), f"{head}.{claims}".encode(), padding.PKCS1v15(),
                                                  hashes.SHA256())
                    body = json.loads(_unb64(claims))
                    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
                    assert body["scope"].endswith("admin.directory.user.readonly") and body["sub"]
                    assert body["aud"] == f"{cloud.base}/token"
                except Exception:  # noqa: BLE001 - any bad assertion is invalid_grant, as Google answers
                    return self._json(400, {"error": "invalid_grant"})
                self._json(200, {"access_token": GOOGLE_TOKEN, "token_type": "Bearer", "expires_in": 3599})

            def _page(self, items: list, start: int, link) -> dict:
                chunk = items[start:start + cloud.page_size]
                more = start + cloud.page_size < len(items)
                return chunk, (link(start + cloud.page_size) if more else None)

            def do_GET(self) -> None:
                cloud.requests.append(f"GET {self.path}")
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                auth = self.headers.get("Authorization", "")
                if url.path.startswith("/v1.0/"):
                    if auth != f"Bearer {GRAPH_TOKEN}":
                        return self._json(401, {"error": {"code": "InvalidAuthenticationToken"}})
                    return self._graph(url.path, query)
                if url.path == "/admin/directory/v1/users":
                    if auth != f"Bearer {GOOGLE_TOKEN}" or query.get("customer") != "my_customer":
                        return self._json(401, {"error": {"code": 401}})
                    start = int(query.get("pageToken") or 0)
                    chunk, token = self._page(cloud.google_users, start, str)
                    return self._json(200, {"kind": "admin#directory#users", "users": chunk,
                                            **({"nextPageToken": token} if token else {})})
                self._json(404, {"error": "not found"})

            def _graph(self, path: str, query: dict) -> None:
                start = int(query.get("$skiptoken") or 0)

                def link(n: int) -> str:
                    return f"{cloud.base}{path}?{urllib.parse.urlencode({**query, '$skiptoken': n})}"
                if path == "/v1.0/users":
                    items = cloud.graph_users
                elif path == "/v1.0/groups":
                    items = [{"id": gid, "displayName": name} for gid, (name, _) in cloud.graph_groups.items()]
                elif path.startswith("/v1.0/groups/") and path.endswith("/transitiveMembers"):
                    gid = path.split("/")[3]
                    items = [{"@odata.type": "#microsoft.graph.user", "id": m} for m in cloud.graph_groups[gid][1]]
                else:
                    return self._json(404, {"error": {"code": "Request_ResourceNotFound"}})
                chunk, next_link = self._page(items, start, link)
                self._json(200, {"value": chunk, **({"@odata.nextLink": next_link} if next_link else {})})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
