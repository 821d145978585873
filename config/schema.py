"""The one validated configuration schema. Filter options come from each filter's module."""
from __future__ import annotations

import os
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


def _check_domains(values: list[str]) -> list[str]:
    for value in values:
        if "@" in value or not _ADDRESS.match(f"x@{value}"):
            raise ValueError(f"not a mail domain: {value!r} (e.g. school.sch.uk)")
    return values


class SchoolSection(Section):
    name: str = Field("Our School", description="the school's name (disclosure filter: full name + school)")
    domains: list[str] = Field(default_factory=list, description="mail domains the school owns")
    phone_numbers: list[str] = Field(default_factory=list, description="the school's own numbers, never PII")
    addresses: list[str] = Field(default_factory=list, description="the school's own postal addresses")
    reporting_addresses: list[str] = Field(
        default_factory=list, description="pastoral/reporting mailboxes: never blocked, findings flagged")
    # issue 21 clause 5: the reporting inbox is a safeguarding channel
    reporting_incident_categories: list[Category] = Field(
        default_factory=lambda: [Category.MEETING, Category.SELF_HARM, Category.GROOMING, Category.EXTREMISM,
                                 Category.THREAT, Category.BULLYING, Category.SEXUAL],
        description="findings in mail to a reporting address that alert the DSL at once and are recorded "
                    "as an incident (the mail is still delivered)")

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
        return _check_domains(values)


class DirectorySection(Section):
    csv: Path | None = Field(None, description="CSV with columns email,role,name,personal_email")
    domain_roles: dict[str, Role] = Field(default_factory=dict, description="domain -> staff|student fallback")
    # --- issue 21 clause 1: year groups from the address (the CSV's year column wins) ---
    year_pattern: str = Field(
        "", description="pupil address pattern carrying the year of entry, e.g. "
                        "'{yy}{initial}{surname}@students.school.sch.uk'; empty = years from the CSV only")
    entry_year: int = Field(7, ge=0, le=13, description="the year group a pupil starts in (7 secondary, "
                                                        "0 reception); +1 every 1 September")

    @field_validator("year_pattern")
    @classmethod
    def _year_pattern(cls, value: str) -> str:
        if value.strip():
            from filters.directory import compile_year_pattern
            compile_year_pattern(value.strip())  # ValueError names the placeholder
        return value.strip()


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
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, gt=0,
                         description="processes sharing the listening port (SO_REUSEPORT); default: one per core")
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
    # --- issue 19 (docs/performance.md) ---
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        "auto", description="the SMTP event loop: auto = uvloop when installed (measured faster), else asyncio's")
    scan_on_loop_bytes: int = Field(
        65_536, ge=0, description="a message up to this size has its parse and text filters run on the worker's "
                                   "event-loop thread, not handed to executor threads (measured cheaper); "
                                   "0 = always threads (gateway/scan_executor.py)")

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
    release_findings_header: Literal["school", "never"] = Field(
        "school", description="X-Schoolgate-Findings on released copies: school = for recipients inside the "
                              "school only, and without safeguarding codes; never = on no released copy")
    held_bytes: Literal["auto", "files", "database"] = Field(
        "auto", description="where held messages' bytes live: files under path, or in the database so "
                            "every node sharing it can read them; auto = files for SQLite, database otherwise")
    lock_wait_seconds: float = Field(
        30.0, ge=0.1, le=600, description="SQLite only: how long a write waits for another process's lock "
                                          "(a CLI or backup holding the database) before the message is "
                                          "answered 4xx, to be retried by the sender")


class SsoProvider(Section):
    """One OpenID Connect provider for the review UI (quarantine/web/oidc.py)."""

    name: str = Field(description="short name in the URL: /login/sso/NAME")
    label: str = Field("", description="the button says 'Sign in with LABEL'")
    issuer: str = Field(description="e.g. https://login.microsoftonline.com/TENANT/v2.0 or https://accounts.google.com")
    client_id: str
    client_secret_file: Path | None = Field(None, description="file holding the client secret")
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    email_claims: list[str] = Field(default_factory=lambda: ["email", "preferred_username", "upn"],
                                    description="ID-token claims tried in turn for the account's e-mail")
    groups_claim: str = "groups"
    role_groups: dict[str, Literal["admin", "reviewer", "dsl", "head", "auditor", "trust_dsl", "trust_it",
                                   "trust_ceo"]] = Field(
        default_factory=dict, description="group claim value -> review role; creates the account on first "
                                          "sign-in (existing accounts keep their role)")
    school_groups: dict[str, str] = Field(
        default_factory=dict, description="group claim value -> school id ([[schools]]): the schools an "
                                          "account created on first sign-in sees (docs/trust.md)")

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", value):
            raise ValueError("lower-case letters, digits, - and _ only (it is part of a URL)")
        return value


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
    sso: list[SsoProvider] = Field(default_factory=list, description="[[web.sso]] OpenID Connect providers")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses or networks of reverse proxies whose X-Forwarded-For/-Proto are believed; "
                    "none by default (forwarded headers from anyone else are ignored)")
    admins_are_dsl: bool = Field(
        False, description="admin accounts may also open safeguarding holds (a school whose DSL is its admin); "
                           "off: admins manage accounts and settings but see no safeguarding content")
    safeguarding_procedure_url: str = Field(
        "", description="the school's own safeguarding procedure, linked from the 'what to do next' panel")

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
    # --- issue 21 clause 6: IT is told (policy alert = ["it"], filter failures) ---
    it_addresses: list[str] = Field(default_factory=list, description="IT alert recipients (plus admin accounts' email)")
    it_repeat_minutes: float = Field(
        60.0, gt=0, description="one IT alert per finding code (or failing filter) in this window; later ones "
                                "are counted, not mailed")
    it_failure_count: int = Field(
        5, ge=1, description="filter failures (errors or timeouts) of one filter within it_failure_minutes "
                             "that alert IT")
    it_failure_minutes: float = Field(15.0, gt=0, description="the window for it_failure_count")

    @field_validator("it_addresses")
    @classmethod
    def _it_addresses(cls, values: list[str]) -> list[str]:
        return _addresses(values)

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
    # issue 21 clause 1: the pupil concerned (the sender if a pupil, else the recipient) is in
    # one of these year groups / sets or forms (directory CSV year, group, form; year_pattern)
    years: list[int] = Field(default_factory=list, description="empty = any")
    groups: list[str] = Field(default_factory=list, description="empty = any")
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

    @field_validator("groups")
    @classmethod
    def _groups(cls, values: list[str]) -> list[str]:
        return [v.strip().lower() for v in values if v.strip()]


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


SCHOOL_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
IMPLICIT_SCHOOL_ID = "school"  # the one school of a config without [[schools]] (docs/trust.md)


class SchoolEntry(Section):
    """One school of a multi-academy trust: `[[schools]]` (docs/trust.md, filters/tenancy.py)."""

    id: str = Field(description="short stable id stored on every hold, audit row, alert and report; "
                                "lower-case letters, digits, - and _")
    name: str = Field(min_length=1, description="the school's name (reports, alerts, the disclosure filter)")
    domains: list[str] = Field(min_length=1, description="mail domains this school owns (and their subdomains)")
    phone_numbers: list[str] = Field(default_factory=list, description="the school's own numbers, never PII")
    addresses: list[str] = Field(default_factory=list, description="the school's own postal addresses")
    reporting_addresses: list[str] = Field(default_factory=list, description="this school's reporting mailboxes")
    dsl_addresses: list[str] = Field(default_factory=list, description="this school's DSL alerts (plus DSL "
                                                                        "accounts scoped to it)")
    deputy_dsl_addresses: list[str] = Field(default_factory=list, description="this school's deputy DSLs")
    head_addresses: list[str] = Field(default_factory=list, description="who gets this school's own report "
                                                                         "(the Head); none = no school report")
    directory: Path | None = Field(None, description="this school's people (the [directory] csv columns), read "
                                                     "with [directory] csv as one directory")
    escalation_contacts: list["EscalationContact"] = Field(
        default_factory=list, description="this school's escalation tree, in calling order, for its holds; "
                                          "none = [escalation] contacts")
    policy: list[PolicyRule] = Field(default_factory=list, description="rules tried before [policy] rules for "
                                                                        "this school's copies")

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not SCHOOL_ID.match(value):
            raise ValueError(f"school id {value!r}: lower-case letters, digits, - and _ (up to 32)")
        return value

    @field_validator("domains", "reporting_addresses")
    @classmethod
    def _lower(cls, values: list[str]) -> list[str]:
        return [v.strip().lower() for v in values if v.strip()]

    @field_validator("domains")
    @classmethod
    def _domains(cls, values: list[str]) -> list[str]:
        return _check_domains(values)

    @field_validator("reporting_addresses", "dsl_addresses", "deputy_dsl_addresses", "head_addresses")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        return _addresses(values)


class TrustSection(Section):
    """[trust]: the multi-academy trust running one gateway for its [[schools]]."""

    name: str = Field("", description="the trust's name (the trust report); default [school] name")
    report_recipients: list[str] = Field(default_factory=list, description="who gets the scheduled trust "
                                                                            "report (CEO, trust safeguarding lead)")

    @field_validator("report_recipients")
    @classmethod
    def _recipients(cls, values: list[str]) -> list[str]:
        return _addresses(values)


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


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^(?:(?P<days>[a-z,\-]+)\s+)?(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$")


def parse_hours(text: str) -> tuple[tuple[frozenset[int], int, int], ...]:
    """"always" -> () (any time); else windows "mon-fri 08:00-18:00; sat 09:00-12:00" as
    (weekdays 0=Mon, start minute, end minute); an end before the start runs past midnight."""
    text = text.strip().lower()
    if text in ("always", "24/7", "any"):
        return ()
    windows = []
    for part in (p.strip() for p in text.split(";") if p.strip()):
        match = _WINDOW.match(part)
        if not match:
            raise ValueError(f"hours {part!r}: give e.g. \"mon-fri 08:00-18:00\", \"22:00-07:00\" or \"always\"")
        days: set[int] = set()
        for item in (match["days"] or "mon-sun").split(","):
            first, _, last = item.partition("-")
            if first not in _DAYS or (last and last not in _DAYS):
                raise ValueError(f"hours {part!r}: days are mon tue wed thu fri sat sun")
            a, b = _DAYS.index(first), _DAYS.index(last or first)
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        minutes = []
        for clock in (match["start"], match["end"]):
            hour, minute = (int(x) for x in clock.split(":"))
            if hour > 24 or minute > 59 or (hour == 24 and minute):
                raise ValueError(f"hours {part!r}: {clock} is not a time of day")
            minutes.append(hour * 60 + minute)
        windows.append((frozenset(days), minutes[0], minutes[1]))
    return tuple(windows)


class EscalationContact(Section):
    """One person in the escalation tree, in order: the DSL first, then deputies, the Head ..."""

    name: str = Field(min_length=1, description="shown in the audit and on the acknowledge page")
    email: str = Field("", description="alert e-mail address")
    phone: str = Field("", description="number passed to the webhook (SMS / phone call service)")
    hours: str = Field("always", description='when this contact is called: "always" or "mon-fri 08:00-18:00; ..."')

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return check_address(value) if value.strip() else ""

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        parse_hours(value)
        return value


class EscalationSection(Section):
    """[escalation]: the out-of-hours tree for the highest-risk alerts (docs/alerts.md)."""

    enabled: bool = Field(False, description="run the escalation tree for alerts at min_level or above")
    min_level: int = Field(5, ge=1, le=5, description="risk level (Finding.level) from which a hold goes down the tree")
    step_minutes: float = Field(5.0, gt=0, le=60, description="an unacknowledged call goes to the next contact after this")
    max_rounds: int = Field(0, ge=0, description="times down the whole tree; 0 = until acknowledged")
    timezone: str = Field("Europe/London", description="the contacts' hours are in this time zone")
    webhook_url: str = Field("", description="POST JSON here for each phone contact (the SMS/phone service)")
    webhook_secret_file: Path | None = Field(
        None, description="file with the shared secret; the body's HMAC-SHA256 goes in X-Schoolgate-Signature")
    webhook_timeout: float = Field(10.0, gt=0, description="seconds for the webhook to answer")
    check_seconds: float = Field(15.0, gt=0, le=60, description="how often due steps are looked for")
    contacts: list[EscalationContact] = Field(default_factory=list, description="in calling order")

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Europe/London)") from None
        return value

    @field_validator("contacts")
    @classmethod
    def _contacts(cls, values: list[EscalationContact], info: ValidationInfo) -> list[EscalationContact]:
        for contact in values:
            if not contact.email and not contact.phone:
                raise ValueError(f"contact {contact.name!r} has neither email nor phone")
        return values

    @model_validator(mode="after")
    def _tree(self) -> "EscalationSection":
        # UK monitoring services call at least two people, one of them at any hour
        if not self.enabled:
            return self
        if len(self.contacts) < 2:
            raise ValueError("contacts: the tree needs at least two contacts")
        if not any(parse_hours(c.hours) == () for c in self.contacts):
            raise ValueError('contacts: one contact needs hours = "always" (reachable at any hour)')
        if any(c.phone for c in self.contacts) and not self.webhook_url:
            raise ValueError("webhook_url: contacts have phone numbers but no webhook is set")
        return self
class RetentionSection(Section):
    """How long decided mail and its records are kept (quarantine/retention.py; issue 21 clause 7)."""

    enabled: bool = Field(True, description="purge on a schedule (the primary node, at start and every check_hours)")
    check_hours: float = Field(24.0, gt=0, description="hours between purges")
    released_days: float = Field(30.0, gt=0, description="a released hold: bytes, index and review rows")
    deleted_days: float = Field(30.0, gt=0, description="a hold a reviewer deleted (its index row; bytes go at once)")
    rejected_days: float = Field(90.0, gt=0, description="the metadata record of a rejected message")
    incident_days: float = Field(2555.0, gt=0, description="a reporting-inbox incident record (7 years)")
    safeguarding_days: float = Field(
        2555.0, gt=0, description="anything with a safeguarding category (self-harm, grooming, extremism, "
                                  "meeting), whatever its status (7 years)")
    by_category: dict[Category, float] = Field(
        default_factory=dict, description="days per finding category, e.g. { bullying = 365 }; the longest "
                                          "period that applies to a message wins")
    decisions_days: float = Field(400.0, gt=0, description="decision-log rows (reports compare a year)")
    seen_days: float = Field(120.0, gt=0, description="the seen store (bulk, forwarding targets, rate counters)")
    evidence_days: float = Field(
        365.0, gt=0, description="a message exported as an evidence bundle is never purged for this long after")


# What a case export can carry (quarantine/cases.py fills each): codes, times, the DSL's own
# words, and `pupil_account` only where the DSL lists it. Never the message's subject or text.
CASE_EXPORT_FIELDS = (
    "case_ref", "date_of_concern", "date", "time", "category", "category_name", "finding_codes", "risk_level",
    "summary", "source", "pupil_role", "pupil_account", "direction", "status", "alert_acknowledged_by",
    "alert_acknowledged_at", "action_taken", "outcome", "true_or_false_positive", "dsl_notes", "recorded_by",
    "last_updated", "closed_at")


class CasesSection(Section):
    """Safeguarding cases and their export (docs/cases.md). Neither CPOMS nor MyConcern publishes an
    import format, so the profiles are column sets a DSL maps in the import; export_columns and
    category_names adjust them to the school's own system."""

    export_profile: Literal["generic", "cpoms", "myconcern"] = Field(
        "generic", description="the columns of /cases.csv and /cases.json (docs/cases.md)")
    export_columns: dict[str, str] = Field(
        default_factory=dict, description="replace the profile's columns: heading -> field, in order")
    category_names: dict[Category, str] = Field(
        default_factory=dict, description="the school's own category for ours, e.g. { self_harm = \"Self Harm\" }")

    @field_validator("export_columns")
    @classmethod
    def _columns(cls, value: dict[str, str]) -> dict[str, str]:
        for heading, name in value.items():
            if name not in CASE_EXPORT_FIELDS:
                raise ValueError(f"{heading!r} = {name!r} is not a case field "
                                 f"(one of: {', '.join(CASE_EXPORT_FIELDS)})")
            if not heading.strip():
                raise ValueError("a column heading is empty")
        return value


SchoolEntry.model_rebuild()  # escalation_contacts names EscalationContact, defined after it


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
    escalation: EscalationSection = Field(default_factory=EscalationSection)
    retention: RetentionSection = Field(default_factory=RetentionSection)
    cases: CasesSection = Field(default_factory=CasesSection)
    trust: TrustSection = Field(default_factory=TrustSection)
    schools: list[SchoolEntry] = Field(default_factory=list, description="[[schools]]: several schools on one "
                                                                          "gateway (docs/trust.md)")
    filter_options: dict[str, Any] = Field(default_factory=dict)
    source: Path | None = None  # the site file, for messages

    @property
    def database_url(self) -> str:
        return self.quarantine.database_url or f"sqlite:///{self.quarantine.path / 'index.sqlite3'}"

    @model_validator(mode="after")
    def _trust_is_one_school_to_the_filters(self) -> "Settings":
        # The filters, routes and directory see the trust as one organisation: every school's
        # domains are "the school" (mail between two schools is internal). Which school a copy
        # belongs to is filters/tenancy.py's job, read from `schools`.
        if self.schools:
            school = self.school
            for key in ("domains", "phone_numbers", "addresses", "reporting_addresses"):
                merged = [*getattr(school, key), *(v for s in self.schools for v in getattr(s, key))]
                setattr(school, key, list(dict.fromkeys(merged)))
            if self.trust.name:
                school.name = self.trust.name
        return self
