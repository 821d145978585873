"""The one validated configuration schema. Filter options come from each filter's module."""
from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from filters.base import Action, Category, Direction, Role, Severity
from filters.networks import parse_networks


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _host_port(value: str, key: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{key} must be host:port, got {value!r}")
    return value


# local@domain: no spaces or brackets, a dotted domain of non-empty labels (any script: SMTPUTF8).
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\".]+(\.[^@\s<>()\[\],;:\".]+)*$")


def check_address(value: str) -> str:
    """One mailbox, e.g. dsl@school.sch.uk; ValueError otherwise (pydantic names the key)."""
    value = value.strip()
    if not _ADDRESS.match(value):
        raise ValueError(f"not an e-mail address: {value!r} (give local@domain)")
    return value


def _addresses(values: list[str]) -> list[str]:
    return [check_address(v) for v in values]


def _enum_value(enum: Any, value: Any, what: str) -> Any:
    """Action/Severity from config text; an unknown word is a ValueError naming the choices."""
    if not isinstance(value, str):
        return value
    try:
        return enum.parse(value)
    except KeyError:
        choices = ", ".join(m.name.lower() for m in enum)
        raise ValueError(f"unknown {what} {value!r} (one of: {choices})") from None


def split_host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)


class SchoolSection(Section):
    name: str = Field("Our School", description="the school's name (disclosure filter: full name + school)")
    domains: list[str] = Field(default_factory=list, description="mail domains the school owns")
    phone_numbers: list[str] = Field(default_factory=list, description="the school's own numbers, never PII")
    addresses: list[str] = Field(default_factory=list, description="the school's own postal addresses")
    reporting_addresses: list[str] = Field(
        default_factory=list, description="pastoral/reporting mailboxes: never blocked, findings flagged")

    @field_validator("domains", "reporting_addresses")
    @classmethod
    def _lower(cls, values: list[str]) -> list[str]:
        return [v.strip().lower() for v in values if v.strip()]

    @field_validator("reporting_addresses")
    @classmethod
    def _reporting(cls, values: list[str]) -> list[str]:
        return _addresses(values)

    @field_validator("domains")
    @classmethod
    def _domains(cls, values: list[str]) -> list[str]:
        for value in values:
            if "@" in value or not _ADDRESS.match(f"x@{value}"):
                raise ValueError(f"not a mail domain: {value!r} (e.g. school.sch.uk)")
        return values


class DirectorySection(Section):
    csv: Path | None = Field(None, description="CSV with columns email,role,name,personal_email")
    domain_roles: dict[str, Role] = Field(default_factory=dict, description="domain -> staff|student fallback")


class DirectorySyncSection(Section):
    """`schoolgate directory sync`: [directory] csv made from LDAP/AD, Microsoft Graph, Google or a MIS export."""

    source: Literal["none", "ldap", "graph", "google", "mis"] = Field(
        "none", description="where people come from; none = the CSV is kept by hand")
    grace_days: float = Field(7.0, ge=0, description="a person missing from the source keeps their role this long")
    interval_minutes: float = Field(0.0, ge=0, description="sync from the running gateway this often; 0 = only "
                                                          "when `schoolgate directory sync` is run")
    role_groups: dict[str, Role] = Field(
        default_factory=dict, description="group (LDAP cn or DN, Graph group name, Google org unit path) -> role; "
                                          "then [directory] domain_roles by address")
    ldap_url: str = Field("", description="ldap://host:389 or ldaps://host:636")
    ldap_base_dn: str = ""
    ldap_bind_dn: str = ""
    ldap_password_file: Path | None = Field(None, description="file holding the bind password (not in this file)")
    ldap_user_filter: str = "(&(objectClass=person)(mail=*))"
    ldap_group_filter: str = "(|(objectClass=groupOfNames)(objectClass=group))"
    ldap_attributes: dict[str, str] = Field(
        default_factory=dict, description="email/name/personal_email/year/form/tutor_email -> LDAP attribute "
                                          "(defaults mail, displayName, otherMailbox; year/form unread)")
    graph_tenant: str = ""
    graph_client_id: str = ""
    graph_secret_file: Path | None = None
    graph_authority: str = "https://login.microsoftonline.com"
    graph_endpoint: str = "https://graph.microsoft.com"
    graph_year_field: str = Field("", description="user property holding the year group, e.g. department")
    google_key_file: Path | None = Field(None, description="the service account's JSON key")
    google_admin_email: str = Field("", description="the admin the service account acts as (domain-wide delegation)")
    google_api: str = "https://admin.googleapis.com"
    mis_file: Path | None = Field(None, description="the MIS student export (CSV)")
    mis_format: Literal["sims", "arbor"] = "sims"
    mis_columns: dict[str, str] = Field(default_factory=dict, description="override the preset's column headings")
    mis_role: Role = Role.STUDENT

    @model_validator(mode="after")
    def _needs(self) -> "DirectorySyncSection":
        need = {"ldap": ("ldap_url", "ldap_base_dn"), "graph": ("graph_tenant", "graph_client_id", "graph_secret_file"),
                "google": ("google_key_file", "google_admin_email"), "mis": ("mis_file",)}.get(self.source, ())
        missing = [k for k in need if not getattr(self, k)]
        if missing:
            raise ValueError(f"source = {self.source!r} needs {', '.join(missing)}")
        return self


class GatewaySection(Section):
    node_name: str = Field("", description="this node's name in /metrics (the node label) and logs; "
                                           "default the host name")
    timers_lease_seconds: float = Field(
        90.0, ge=5, description="several nodes on one database: the node holding this lease sends digests, "
                                "escalations and reports; another takes over this long after it dies")
    listen: str = Field("127.0.0.1:2525", description="host:port the SMTP server binds")
    next_hop: str | None = Field(None, description="host:port of the school's mail server")
    hostname: str = Field("schoolgate.local", description="name in the banner and Received header")
    trusted_networks: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="clients allowed to relay to any domain (the school's own mail server)")
    max_message_size: int = Field(26_214_400, gt=0, description="bytes; advertised with SIZE, 552 beyond")
    max_recipients: int = Field(100, gt=0)
    max_connections: int = Field(200, gt=0)
    command_timeout: float = Field(300.0, gt=0, description="idle seconds before the session is closed")
    data_timeout: float = Field(
        600.0, gt=0, description="seconds for the client to upload one message after DATA (then 421 4.4.2)")
    tls_cert: Path | None = None
    tls_key: Path | None = None
    next_hop_pool_size: int = Field(8, gt=0, description="pooled connections to the next hop")
    next_hop_timeout: float = Field(60.0, gt=0)
    # -- routes, next-hop TLS and health probes (gateway/routing.py, relay.py, health.py) --
    next_hop_tls: Literal["none", "opportunistic", "required", "starttls"] = Field(
        "opportunistic", description="TLS to next_hop: none | opportunistic | required (starttls = required); "
                                     "certificates are verified whenever TLS is used")
    next_hop_ca_file: Path | None = Field(
        None, description="PEM CA(s) that sign next_hop's certificate; default: the system CAs")
    outbound_next_hop: str | None = Field(
        None, description="host:port of the school's smarthost for mail leaving the school (recipients "
                          "outside [school] domains); default: next_hop takes everything")
    outbound_next_hop_tls: Literal["none", "opportunistic", "required", "starttls"] = Field(
        "required", description="TLS to outbound_next_hop: none | opportunistic | required")
    outbound_next_hop_ca_file: Path | None = Field(
        None, description="PEM CA(s) that sign outbound_next_hop's certificate; default: the system CAs")
    next_hop_probe_seconds: float = Field(
        30.0, gt=0, description="when no delivery succeeded for this long, /healthz's monitor checks each "
                                "route with connect + EHLO + QUIT")
    workers: int = Field(1, gt=0, description="processes sharing the listening port (SO_REUSEPORT)")
    scan_concurrency: int = Field(
        4, gt=0, description="messages each worker scans at once; later ones wait their turn after DATA "
                             "(filter timeouts count from their turn, not from the queue)")
    scan_queue_timeout: float = Field(
        120.0, gt=0, description="seconds a message may wait for its turn before 451 4.3.2 (the sender retries)")
    # --- issue 16 (docs/smtp.md): long lines, scan deadline, RCPT-time recipient checks ---
    max_line_length: int = Field(
        1_048_576, ge=1000, description="octets in one header or body line accepted (delivered intact); "
                                        "longer: 552 5.3.4")
    scan_timeout: float = Field(
        180.0, gt=0, description="seconds for the whole filter chain on one message, from its turn; then "
                                 "451 4.7.1, before anything is delivered")
    verify_recipients: bool = Field(
        True, description="probe the next hop at RCPT for mail from untrusted clients to the school's domains "
                          "(Postfix reject_unverified_recipient): an unknown address gets its own 550 5.1.1")
    verify_positive_ttl: float = Field(86_400.0, gt=0, description="seconds a recipient the next hop accepted stays known")
    verify_negative_ttl: float = Field(3_600.0, gt=0, description="seconds a recipient the next hop refused stays refused")
    verify_timeout: float = Field(10.0, gt=0, description="seconds for one probe (connect to QUIT)")
    verify_tempfail_action: Literal["defer", "accept"] = Field(
        "defer", description="a probe that gets no answer or a 4xx: defer = 450 4.1.1 (Postfix's default), "
                             "accept = take the recipient and let delivery decide")

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return _host_port(value, "listen")

    @field_validator("next_hop", "outbound_next_hop")
    @classmethod
    def _next_hop(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _host_port(value, info.field_name or "next_hop")

    @field_validator("trusted_networks")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        parse_networks(values)  # ValueError names the bad value
        return values


class QuarantineSection(Section):
    path: Path = Field(Path("data/quarantine"), description="directory holding the embedded store")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite under path")
    held_bytes: Literal["auto", "files", "database"] = Field(
        "auto", description="where held messages' bytes live: files under path, or in the database so "
                            "every node sharing it can read them; auto = files for SQLite, database otherwise")


class WebSection(Section):
    listen: str = Field("127.0.0.1:8025", description="host:port of the review UI and /metrics")
    enabled: bool = True
    base_url: str = Field("", description="public URL of the review UI for links in mail; default http://listen")
    secure_cookies: Literal["auto", "always", "never"] = Field(
        "auto", description="Secure cookie flag: auto = when the request or base_url is https")
    session_idle_minutes: float = Field(30.0, gt=0, description="a session ends after this long unused")
    session_max_hours: float = Field(10.0, gt=0, description="a session ends this long after login regardless")
    login_attempts: int = Field(5, gt=0, description="failed logins per name (x4 per address) in the window")
    login_window_minutes: float = Field(15.0, gt=0, description="the login rate-limit window")
    page_size: int = Field(50, gt=0, le=500, description="queue rows per page")
    access_minutes: float = Field(15.0, gt=0, description="how long a DSL's reasoned access to a hold lasts")
    argon2_time_cost: int = Field(3, ge=1, description="argon2id passes for password hashes (RFC 9106)")
    argon2_memory_kib: int = Field(65536, ge=8192, description="argon2id memory per hash, KiB")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks of reverse proxies whose X-Forwarded-For/-Proto are believed; "
                    "none by default (forwarded headers from anyone else are ignored)")

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return _host_port(value, "listen")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, values: list[str]) -> list[str]:
        # canonical form (uvicorn matches the peer against these; "10.0.0.1/8" -> 10.0.0.0/8)
        return [str(net) for net in parse_networks(values)]


class NotifySection(Section):
    """Mail the gateway sends about holds, through the next hop (quarantine/notify.py)."""

    enabled: bool = Field(True, description="send notices, digests and DSL alerts")
    from_address: str = Field(
        "", description="envelope and From: of notices; empty = mail nothing (DSL alerts are still recorded)")
    sender_notices: bool = Field(True, description="tell the sender their mail is held (never safeguarding/virus)")
    dsl_addresses: list[str] = Field(default_factory=list, description="DSL alert recipients (plus dsl users' email)")
    deputy_dsl_addresses: list[str] = Field(default_factory=list, description="told when the DSL has not acknowledged")
    escalate_after_minutes: float = Field(30.0, gt=0, description="unacknowledged DSL alert -> deputy after this")
    reviewer_addresses: list[str] = Field(default_factory=list, description="digest recipients (plus reviewers' email)")
    digest_minutes: float = Field(60.0, gt=0, description="how often the reviewer digest of new holds is sent")
    link_hours: float = Field(48.0, gt=0, description="how long digest and release-request links stay valid")
    templates_dir: Path | None = Field(None, description="directory overriding the shipped mail templates")
    check_seconds: float = Field(30.0, gt=0, description="how often the digest and escalation timers are checked")

    @field_validator("dsl_addresses", "deputy_dsl_addresses", "reviewer_addresses")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        return _addresses(values)

    @field_validator("from_address")
    @classmethod
    def _from(cls, value: str) -> str:
        return check_address(value) if value.strip() else ""


class ReportTerm(Section):
    """One school term, for `--period term` and termly reports (dates inclusive)."""

    name: str
    start: date
    end: date


class ReportSchedule(Section):
    """A further scheduled report, e.g. termly to the governors."""

    name: str = Field(description="shown in the subject and the send record")
    schedule: Literal["daily", "weekly", "monthly", "termly"]
    recipients: list[str] = Field(min_length=1)
    attach: Literal["none", "pdf", "csv"] = "pdf"
    show_names: bool = Field(False, description="name senders (staff and pupils) in this report")

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, values: list[str]) -> list[str]:
        return _addresses(values)


class ReportsSection(Section):
    """Reports to the Head of Centre and governors (quarantine/reports.py); counts, never content."""

    recipients: list[str] = Field(default_factory=list, description="who gets the scheduled report")
    schedule: Literal["off", "daily", "weekly", "monthly", "termly"] = Field(
        "off", description="how often the running gateway sends it (the period just ended)")
    attach: Literal["none", "pdf", "csv"] = Field("pdf", description="attached to the HTML mail")
    show_names: bool = Field(False, description="name top senders; default: by role only, no pupil names")
    from_address: str = Field("", description="envelope and From:; default [notify] from_address")
    send_hour: int = Field(7, ge=0, le=23, description="local hour after which a due report is sent")
    timezone: str = Field("Europe/London", description="where days, weeks and terms begin")
    terms: list[ReportTerm] = Field(default_factory=list, description="term dates; default Sep-Dec, Jan-Mar, Apr-Jul")
    extra: list[ReportSchedule] = Field(default_factory=list, description="further scheduled reports")
    check_minutes: float = Field(15.0, gt=0, description="how often the scheduler looks for a due report")

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, values: list[str]) -> list[str]:
        return _addresses(values)

    @field_validator("from_address")
    @classmethod
    def _from(cls, value: str) -> str:
        return check_address(value) if value.strip() else ""

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Europe/London)") from None
        return value


class PolicyRule(Section):
    """First matching rule gives a finding's action for one recipient."""

    category: Category | None = None
    code: str | None = None
    min_severity: Severity = Severity.LOW
    max_severity: Severity = Severity.CRITICAL
    directions: list[Direction] = Field(default_factory=list, description="empty = any")
    sender_roles: list[Role] = Field(default_factory=list, description="empty = any")
    recipient_roles: list[Role] = Field(default_factory=list, description="empty = any")
    action: Action
    alert: list[str] = Field(default_factory=list, description="who is told at once: dsl, it")

    @field_validator("action", mode="before")
    @classmethod
    def _action(cls, value: Any) -> Any:
        return _enum_value(Action, value, "action")

    @field_validator("min_severity", "max_severity", mode="before")
    @classmethod
    def _severity(cls, value: Any) -> Any:
        return _enum_value(Severity, value, "severity")


class PolicySection(Section):
    rules: list[PolicyRule] = Field(default_factory=list)
    # A finding no rule matches: by severity. Never "pass" for high and critical.
    default_actions: dict[Severity, Action] = Field(default_factory=lambda: {
        Severity.LOW: Action.TAG, Severity.MEDIUM: Action.HOLD,
        Severity.HIGH: Action.HOLD, Severity.CRITICAL: Action.HOLD})

    @field_validator("default_actions", mode="before")
    @classmethod
    def _defaults(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {_enum_value(Severity, k, "severity"): _enum_value(Action, v, "action")
                    for k, v in value.items()}
        return value

    @field_validator("default_actions")
    @classmethod
    def _never_pass_serious(cls, value: dict[Severity, Action]) -> dict[Severity, Action]:
        # A high or critical finding that no rule matched must reach a person, not the inbox.
        passed = [s.name.lower() for s in (Severity.HIGH, Severity.CRITICAL) if value.get(s) == Action.PASS]
        if passed:
            raise ValueError(f"{' and '.join(passed)} must not be \"pass\" (use hold, reject or tag)")
        return value


class FiltersSection(Section):
    chain: list[str] = Field(default_factory=list, description="filters in run order")


class RedisSection(Section):
    url: str | None = Field(
        None, description="redis://host:port/db shared by every gateway node: bulk/seen counters and login "
                          "limits; unset = the embedded store keeps them (one node)")

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value or None


class LoggingSection(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "text"] = "json"


class Settings(Section):
    """Everything a gateway node runs on. `filter_options` holds each chained
    filter's validated Options, keyed by filter name (top-level table of that name)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    school: SchoolSection = Field(default_factory=SchoolSection)
    directory: DirectorySection = Field(default_factory=DirectorySection)
    directory_sync: DirectorySyncSection = Field(default_factory=DirectorySyncSection)
    gateway: GatewaySection = Field(default_factory=GatewaySection)
    quarantine: QuarantineSection = Field(default_factory=QuarantineSection)
    web: WebSection = Field(default_factory=WebSection)
    notify: NotifySection = Field(default_factory=NotifySection)
    reports: ReportsSection = Field(default_factory=ReportsSection)
    policy: PolicySection = Field(default_factory=PolicySection)
    filters: FiltersSection = Field(default_factory=FiltersSection)
    logging: LoggingSection = Field(default_factory=LoggingSection)
    redis: RedisSection = Field(default_factory=RedisSection)
    filter_options: dict[str, Any] = Field(default_factory=dict)
    source: Path | None = None  # the site file, for messages

    @property
    def database_url(self) -> str:
        return self.quarantine.database_url or f"sqlite:///{self.quarantine.path / 'index.sqlite3'}"
