"""Where `schoolgate directory sync` reads people from: LDAP/Active Directory, Microsoft Graph,
Google Directory, or a MIS export (SIMS / Arbor CSV). Each returns every person it knows or
raises DirectorySyncError naming the source; paging is followed to the end, so a partial list is
never mistaken for the whole school (gateway/directory_sync.py then applies the removal grace).

HTTP is the standard library's (urllib): these run from the command line or a timer, once in a
while, and need no connection pool. Tokens: Graph by the OAuth 2.0 client-credentials grant, Google
by a service account's signed JWT (RFC 7523) with domain-wide delegation — the documented flows.
"""
from __future__ import annotations

import base64
import csv
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.directory_sync import DirectoryRecord, DirectorySyncError, with_role

HTTP_TIMEOUT = 30.0
MAX_PAGES = 10_000  # a source that pages for ever is broken, not big


def _read_secret(path: Path | None, what: str) -> str:
    if path is None:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise DirectorySyncError(f"{what}: cannot read {path}: {exc.strerror or exc}") from None


def _http_json(url: str, *, what: str, data: dict[str, str] | None = None, token: str = "") -> dict:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")
    request.add_header("Accept", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:300].decode("utf-8", "replace")
        raise DirectorySyncError(f"{what}: {url.split('?')[0]} answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DirectorySyncError(f"{what}: cannot reach {url.split('?')[0]}: {getattr(exc, 'reason', exc)}") from None
    except ValueError:
        raise DirectorySyncError(f"{what}: {url.split('?')[0]} did not answer JSON") from None


# --- LDAP / Active Directory ------------------------------------------------------------------
@dataclass
class LdapSource:
    url: str
    base_dn: str
    bind_dn: str = ""
    password_file: Path | None = None
    user_filter: str = "(&(objectClass=person)(mail=*))"
    group_filter: str = "(|(objectClass=groupOfNames)(objectClass=group))"
    attributes: dict[str, str] = field(default_factory=dict)  # email/name/personal_email/year/form/tutor_email
    role_groups: dict[str, str] = field(default_factory=dict)
    domain_roles: dict[str, str] = field(default_factory=dict)
    name: str = "ldap"

    def _attr(self, key: str, default: str) -> str:
        return self.attributes.get(key, default)

    def fetch(self) -> list[DirectoryRecord]:
        import ldap3
        from ldap3.core.exceptions import LDAPException

        what = f"LDAP {self.url}"
        password = _read_secret(self.password_file, what)
        wanted = {k: self._attr(k, d) for k, d in (("email", "mail"), ("name", "displayName"),
                                                     ("personal_email", "otherMailbox"), ("year", ""),
                                                     ("form", ""), ("tutor_email", ""))}
        attributes = sorted({a for a in wanted.values() if a} | {"cn", "memberOf"})
        try:
            server = ldap3.Server(self.url, get_info=ldap3.NONE, connect_timeout=10)
            conn = ldap3.Connection(server, user=self.bind_dn or None, password=password or None,
                                    auto_bind=True, receive_timeout=int(HTTP_TIMEOUT), raise_exceptions=True)
            try:
                groups: dict[str, list[str]] = {}  # member DN -> group names (OpenLDAP has no memberOf)
                for entry in conn.extend.standard.paged_search(self.base_dn, self.group_filter, attributes=["cn", "member"],
                                                               paged_size=500, generator=True):
                    if entry.get("type") != "searchResEntry":
                        continue
                    cn = _first(entry["attributes"].get("cn"))
                    for member in entry["attributes"].get("member", []) or []:
                        groups.setdefault(member.lower(), []).append(cn)
                records = []
                for entry in conn.extend.standard.paged_search(self.base_dn, self.user_filter, attributes=attributes,
                                                               paged_size=500, generator=True):
                    if entry.get("type") != "searchResEntry":
                        continue
                    attrs = entry["attributes"]
                    email = _first(attrs.get(wanted["email"])).lower()
                    if not email:
                        continue
                    member_of = [*(attrs.get("memberOf") or []), *groups.get(entry["dn"].lower(), [])]
                    record = DirectoryRecord(
                        email=email, role="",
                        name=_first(attrs.get(wanted["name"])) or _first(attrs.get("cn")),
                        personal_emails=tuple(a.lower() for a in _all(attrs.get(wanted["personal_email"]))),
                        year=_first(attrs.get(wanted["year"])) if wanted["year"] else "",
                        form=_first(attrs.get(wanted["form"])) if wanted["form"] else "",
                        tutor_email=_first(attrs.get(wanted["tutor_email"])).lower() if wanted["tutor_email"] else "",
                        groups=tuple(member_of))
                    records.append(with_role(record, self.role_groups, self.domain_roles))
                return records
            finally:
                conn.unbind()
        except LDAPException as exc:
            raise DirectorySyncError(f"{what}: {type(exc).__name__}: {exc}") from None


def _first(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return str(value[0]).strip() if value else ""
    return str(value).strip() if value not in (None, "") else ""


def _all(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [str(value).strip()] if value else []


# --- Microsoft Graph (Entra ID) -----------------------------------------------------------------
@dataclass
class GraphSource:
    tenant: str
    client_id: str
    secret_file: Path | None
    authority: str = "https://login.microsoftonline.com"
    graph: str = "https://graph.microsoft.com"
    year_field: str = ""  # e.g. "department" when the school keeps the year group there
    role_groups: dict[str, str] = field(default_factory=dict)  # group displayName -> role
    domain_roles: dict[str, str] = field(default_factory=dict)
    name: str = "graph"

    def _token(self) -> str:
        answer = _http_json(f"{self.authority.rstrip('/')}/{self.tenant}/oauth2/v2.0/token", what="Microsoft Graph",
                            data={"grant_type": "client_credentials", "client_id": self.client_id,
                                  "client_secret": _read_secret(self.secret_file, "Microsoft Graph"),
                                  "scope": f"{self.graph.rstrip('/')}/.default"})
        token = answer.get("access_token")
        if not token:
            raise DirectorySyncError("Microsoft Graph: the token endpoint gave no access_token")
        return str(token)

    def _pages(self, url: str, token: str) -> list[dict]:
        items: list[dict] = []
        for _ in range(MAX_PAGES):
            page = _http_json(url, what="Microsoft Graph", token=token)
            items.extend(page.get("value", []))
            url = page.get("@odata.nextLink") or ""
            if not url:
                return items
        raise DirectorySyncError("Microsoft Graph: paging did not end")

    def fetch(self) -> list[DirectoryRecord]:
        token = self._token()
        base = f"{self.graph.rstrip('/')}/v1.0"
        select = "id,mail,userPrincipalName,displayName,otherMails" + (f",{self.year_field}" if self.year_field else "")
        users = self._pages(f"{base}/users?$select={select}&$top=999", token)
        member_groups: dict[str, list[str]] = {}
        wanted = {k.lower() for k in self.role_groups}
        for group in self._pages(f"{base}/groups?$select=id,displayName&$top=999", token):
            if str(group.get("displayName", "")).lower() not in wanted:
                continue
            for member in self._pages(f"{base}/groups/{group['id']}/transitiveMembers?$select=id&$top=999", token):
                member_groups.setdefault(member["id"], []).append(group["displayName"])
        records = []
        for user in users:
            email = str(user.get("mail") or user.get("userPrincipalName") or "").lower()
            if "@" not in email:
                continue
            record = DirectoryRecord(
                email=email, role="", name=str(user.get("displayName") or ""),
                personal_emails=tuple(str(a).lower() for a in user.get("otherMails") or ()),
                year=str(user.get(self.year_field) or "") if self.year_field else "",
                groups=tuple(member_groups.get(user.get("id", ""), ())))
            records.append(with_role(record, self.role_groups, self.domain_roles))
        return records


# --- Google Workspace Directory -----------------------------------------------------------------
GOOGLE_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"


@dataclass
class GoogleSource:
    key_file: Path  # the service account's JSON key (client_email, private_key, token_uri)
    admin_email: str  # domain-wide delegation: the admin the account acts as
    api: str = "https://admin.googleapis.com"
    customer: str = "my_customer"
    role_groups: dict[str, str] = field(default_factory=dict)  # org unit path (prefix) -> role
    domain_roles: dict[str, str] = field(default_factory=dict)
    name: str = "google"

    def _token(self) -> str:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            key = json.loads(_read_secret(self.key_file, "Google Directory"))
            private = serialization.load_pem_private_key(key["private_key"].encode(), password=None)
            token_uri, issuer = key["token_uri"], key["client_email"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DirectorySyncError(f"Google Directory: {self.key_file} is not a service-account key: {exc}") from None
        now = int(time.time())
        claims = {"iss": issuer, "scope": GOOGLE_SCOPE, "aud": token_uri, "sub": self.admin_email,
                  "iat": now, "exp": now + 3600}
        signing_input = f"{_b64(json.dumps({'alg': 'RS256', 'typ': 'JWT'}))}.{_b64(json.dumps(claims))}"
        signature = private.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        answer = _http_json(token_uri, what="Google Directory", data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": f"{signing_input}.{_b64(signature)}"})
        if not answer.get("access_token"):
            raise DirectorySyncError("Google Directory: the token endpoint gave no access_token")
        return str(answer["access_token"])

    def fetch(self) -> list[DirectoryRecord]:
        token = self._token()
        records, page_token = [], ""
        for _ in range(MAX_PAGES):
            query = {"customer": self.customer, "maxResults": "500", "projection": "full"}
            if page_token:
                query["pageToken"] = page_token
            page = _http_json(f"{self.api.rstrip('/')}/admin/directory/v1/users?{urllib.parse.urlencode(query)}",
                              what="Google Directory", token=token)
            for user in page.get("users", []):
                email = str(user.get("primaryEmail", "")).lower()
                if "@" not in email:
                    continue
                personal = tuple(str(e.get("address", "")).lower() for e in user.get("emails", [])
                                 if e.get("type") in ("home", "other") and e.get("address"))
                orgs = user.get("organizations") or [{}]
                record = DirectoryRecord(email=email, role="", name=str((user.get("name") or {}).get("fullName", "")),
                                         personal_emails=personal, year=str(orgs[0].get("department", "") or ""),
                                         groups=(str(user.get("orgUnitPath", "")),))
                records.append(with_role(record, self.role_groups, self.domain_roles))
            page_token = page.get("nextPageToken", "")
            if not page_token:
                return records
        raise DirectorySyncError("Google Directory: paging did not end")


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --- MIS export (SIMS / Arbor CSV) --------------------------------------------------------------
# Column headings of the usual student-list exports; a school whose report names them otherwise
# sets [directory_sync] mis_columns.
MIS_PRESETS: dict[str, dict[str, str]] = {
    "sims": {"email": "Email", "forename": "Forename", "surname": "Legal Surname", "year": "Year",
             "form": "Reg", "tutor_email": "Tutor Email", "personal_email": "Personal Email"},
    "arbor": {"email": "Email address", "forename": "First name", "surname": "Last name",
              "year": "Year group", "form": "Registration form", "tutor_email": "Tutor email",
              "personal_email": "Personal email"},
}


@dataclass
class MisCsvSource:
    path: Path
    preset: str = "sims"
    columns: dict[str, str] = field(default_factory=dict)
    role: str = "student"  # a MIS student export lists pupils
    name: str = "mis"

    def fetch(self) -> list[DirectoryRecord]:
        names = {**MIS_PRESETS.get(self.preset, {}), **self.columns}
        try:
            with open(self.path, newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                headers = {(h or "").strip().lower(): h for h in reader.fieldnames or ()}
                email_col = headers.get(names.get("email", "email").lower())
                if email_col is None:
                    raise DirectorySyncError(f"MIS export {self.path}: no column {names.get('email')!r} "
                                             f"(found {', '.join(reader.fieldnames or ()) or 'nothing'})")

                def col(row: dict, key: str) -> str:
                    header = headers.get(names.get(key, "").lower()) if names.get(key) else None
                    return (row.get(header) or "").strip() if header else ""

                records = []
                for row in reader:
                    email = col(row, "email").lower()
                    if "@" not in email:
                        continue
                    name = " ".join(p for p in (col(row, "forename"), col(row, "surname")) if p)
                    records.append(DirectoryRecord(
                        email=email, role=self.role, name=name,
                        personal_emails=tuple(p.strip().lower() for p in col(row, "personal_email").split(";") if p.strip()),
                        year=col(row, "year").removeprefix("Year ").strip(), form=col(row, "form"),
                        tutor_email=col(row, "tutor_email").lower()))
                return records
        except OSError as exc:
            raise DirectorySyncError(f"MIS export {self.path}: {exc.strerror or exc}") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DirectorySyncError(f"MIS export {self.path}: not a readable CSV: {exc}") from None


def source_from_settings(settings: Any):
    """The source `[directory_sync]` names (DirectorySyncError when there is none)."""
    cfg = settings.directory_sync
    roles = {k: str(v) for k, v in cfg.role_groups.items()}
    domains = {k: str(v) for k, v in settings.directory.domain_roles.items()}
    if cfg.source == "ldap":
        return LdapSource(cfg.ldap_url, cfg.ldap_base_dn, cfg.ldap_bind_dn, cfg.ldap_password_file,
                          cfg.ldap_user_filter, cfg.ldap_group_filter, dict(cfg.ldap_attributes), roles, domains)
    if cfg.source == "graph":
        return GraphSource(cfg.graph_tenant, cfg.graph_client_id, cfg.graph_secret_file, cfg.graph_authority,
                           cfg.graph_endpoint, cfg.graph_year_field, roles, domains)
    if cfg.source == "google":
        return GoogleSource(cfg.google_key_file, cfg.google_admin_email, cfg.google_api, role_groups=roles,
                            domain_roles=domains)
    if cfg.source == "mis":
        return MisCsvSource(cfg.mis_file, cfg.mis_format, dict(cfg.mis_columns), str(cfg.mis_role))
    raise DirectorySyncError("no [directory_sync] source is configured (ldap, graph, google or mis)")
