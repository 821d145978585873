"""Builders shared by tests: settings from overrides, views from text or bytes."""
from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path
from typing import Any

import os
import tomllib

from config.loader import DEFAULT_CONFIG, load_settings
from config.schema import Settings
from filters.directory import Directory
from filters.extract import AttachmentExtractor
from filters.message import Envelope, MessageView, build_view

SCHOOL_DOMAIN = "school.sch.uk"
CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"


def make_settings(tmp_path: Path | None = None, **overrides: Any) -> Settings:
    """Shipped defaults + `overrides` (a dict per section), the school at school.sch.uk."""
    data: dict[str, Any] = {"school": {"name": "Hillside Academy", "domains": [SCHOOL_DOMAIN]}}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    if tmp_path is not None:
        data.setdefault("quarantine", {}).setdefault("path", str(tmp_path / "quarantine"))
    _point_virus_at_test_clamd(data)
    _point_authentication_at_test_dns(data)
    return load_settings(overrides=data, base_dir=tmp_path)


def shipped_chain() -> list[str]:
    with open(DEFAULT_CONFIG, "rb") as handle:
        return list(tomllib.load(handle)["filters"]["chain"])


def _point_virus_at_test_clamd(data: dict[str, Any]) -> None:
    """The shipped chain scans with clamd: point it at the session's real clamd
    (tests/conftest.py). Without clamd (a developer machine; CI always has it)
    the virus filter is left out and the virus tests themselves skip. Every
    test clamd has test signatures only, so tests run as an evaluation install
    does ([virus] allow_test_signatures) unless a test says otherwise."""
    chain = data.get("filters", {}).get("chain", shipped_chain())
    if "virus" not in chain:
        return
    virus = data.get("virus", {})
    if "clamd" not in virus:
        address = os.environ.get("SCHOOLGATE_TEST_CLAMD")
        if not address:
            data["filters"] = {**data.get("filters", {}), "chain": [n for n in chain if n != "virus"]}
            return
        virus = {**virus, "clamd": address}
    data["virus"] = {"allow_test_signatures": True, **virus}


def _point_authentication_at_test_dns(data: dict[str, Any]) -> None:
    """The shipped chain checks DKIM/SPF/DMARC: ask the session's loopback DNS server
    (tests/conftest.py), never the public internet, unless a test names its own."""
    address = os.environ.get("SCHOOLGATE_TEST_DNS")
    auth = data.get("authentication", {})
    if address and "nameservers" not in auth:
        data["authentication"] = {**auth, "nameservers": [address]}


def site_toml_virus(authentication: str = "") -> str:
    """The same for a site file written by a test: a TOML fragment. It holds the
    [authentication] table (the test DNS server), so a test adding keys to that
    table passes them as `authentication` (TOML lines) instead of a second table."""
    address = os.environ.get("SCHOOLGATE_TEST_CLAMD")
    dns = os.environ.get("SCHOOLGATE_TEST_DNS")
    auth = f'[authentication]\n{authentication}' + (f'nameservers = ["{dns}"]\n' if dns else "")
    if address:
        return f'[virus]\nclamd = "{address}"\nallow_test_signatures = true\n' + auth
    chain = [n for n in shipped_chain() if n != "virus"]
    return "[filters]\nchain = [" + ", ".join(f'"{n}"' for n in chain) + "]\n" + auth


def corpus_scan_site(path: Path, tables: str) -> Path:
    """The site file `scan --manifest` runs over the corpora with (the determinism test,
    bench/findings_diff.py): the test school with its pupil subdomain, no web UI, the
    quarantine beside the file, plus `tables` (the chain, clamd, deadlines)."""
    path.write_text(f"""
[school]
name = "Hillside Academy"
domains = ["{SCHOOL_DOMAIN}", "pupils.{SCHOOL_DOMAIN}"]

[directory]
domain_roles = {{ "pupils.{SCHOOL_DOMAIN}" = "student", "{SCHOOL_DOMAIN}" = "staff" }}

[gateway]
listen = "127.0.0.1:0"

[quarantine]
path = "q"

[web]
enabled = false
{tables}""", encoding="utf-8")
    return path


def write_directory(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """rows: (email, role, name, personal_email)."""
    lines = ["email,role,name,personal_email"] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_message(body: str = "Hello", *, subject: str = "Test", sender: str = "alice@example.com",
                 to: str = f"bob@{SCHOOL_DOMAIN}", html: str | None = None,
                 attachments: list[tuple[str, str, bytes]] = (), headers: dict[str, str] | None = None) -> bytes:
    """An RFC 5322 message as bytes. attachments: (filename, mime type, data)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = "<test@example.com>"
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, mime, data in attachments:
        maintype, _, subtype = mime.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def make_view(raw: bytes | str, *, mail_from: str = "alice@example.com",
              rcpt_to: tuple[str, ...] = (f"bob@{SCHOOL_DOMAIN}",), directory: Directory | None = None,
              settings: Settings | None = None) -> MessageView:
    if isinstance(raw, str):
        raw = make_message(raw, sender=mail_from, to=", ".join(rcpt_to))
    if directory is None:
        settings = settings or make_settings()
        directory = Directory(settings.directory.csv, settings.directory.domain_roles,
                              tuple(settings.school.domains))
    return build_view(raw, Envelope(mail_from, tuple(rcpt_to), "127.0.0.1", "test"), directory,
                      extractor=AttachmentExtractor())
