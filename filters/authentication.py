"""Sender authentication of inbound mail: DKIM, SPF and DMARC, spoofing of the school's
own domains, and display-name impersonation of staff.

Only mail from outside reaches the checks: a client in `[gateway] trusted_networks`
is the school's own server (its mail is signed on the way out, not verified).

DNS that does not answer is never a verdict about a sender. What it does is the
filter's `on_error` (docs/authentication.md): "tag" (the shipped default) delivers
the message with AUTH_TEMPERROR among its findings and `temperror` in its
Authentication-Results, logged and counted, the checks that need no DNS (school
senders, display names) still made; "tempfail" answers 451 so the sender retries;
"hold" quarantines it. A school whose resolver fails must still get its post.

Besides findings, the filter keeps each message's results so the gateway can add
an RFC 8601 `Authentication-Results:` header: `authentication_results(view)`.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import re
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from email.utils import getaddresses
from pathlib import Path
from typing import Literal, Sequence

import authres
import authres.dmarc
import dkim
import spf
from publicsuffixlist import PublicSuffixList
from pydantic import Field, field_validator

from filters.base import Category, FilterContext, FilterOptions, Finding, Severity
from filters.directory import domain_of, normalise_address
from filters.dns_lookup import (SUPPORTED_TYPES, BoundedLookups, DNSLookupError, DnspythonResolver,
                                Resolver, parse_nameserver)
from filters.message import MessageView
from filters.networks import in_networks, parse_networks


@functools.lru_cache(maxsize=1)
def public_suffixes() -> PublicSuffixList:
    """The Public Suffix List that ships inside publicsuffixlist (no download), parsed once
    per process (0.35 s): its lookups only read it."""
    return PublicSuffixList()

log = logging.getLogger(__name__)

# Results kept for authentication_results(): the gateway asks right after the scan.
_RESULTS_KEPT = 1024


# DNS gave no answer, so DKIM/SPF/DMARC are unknown (RFC 8601 2.7: "temperror").
TEMPERROR_CODE = "AUTH_TEMPERROR"


class Options(FilterOptions):
    timeout: float = Field(10.0, gt=0, description="seconds before the chain cancels the filter")
    # Unlike content filters this one may "tag": a DNS outage is not a reason to stop a
    # school's mail, and the anti-spoofing that matters most needs no DNS (sender_trust).
    on_error: Literal["tag", "tempfail", "hold"] = Field(
        "tag", description="DNS failure or timeout: tag (deliver, AUTH_TEMPERROR recorded), "
                           "tempfail (451, the sender retries) or hold")
    dns_timeout: float = Field(3.0, gt=0, description="seconds for one DNS query")
    dns_budget: float = Field(
        8.0, gt=0, description="seconds for all of one message's DNS queries (keep below timeout)")
    nameservers: list[str] = Field(
        default_factory=list,
        description='resolvers as "IP" or "IP:port" ("[IPv6]:port"); empty = the system\'s /etc/resolv.conf')
    dns_down_seconds: float = Field(
        30.0, gt=0, description="after two DNS timeouts in a row, queries fail at once for this long")
    dkim: bool = Field(True, description="verify DKIM signatures (DKIM_FAIL)")
    spf: bool = Field(True, description="check SPF for the client IP and envelope sender (SPF_FAIL, SPF_SOFTFAIL)")
    dmarc: bool = Field(True, description="evaluate DMARC alignment and policy (DMARC_*)")
    spoofing: bool = Field(True, description="school domains from outside, unsigned (SPOOFED_SCHOOL_SENDER)")
    display_names: bool = Field(
        True, description="staff names on external From addresses (DISPLAY_NAME_IMPERSONATION)")
    min_key_bits: int = Field(1024, ge=512, description="shorter DKIM keys fail (RFC 8301: at least 1024)")
    max_signatures: int = Field(5, gt=0, description="DKIM signatures verified per message (each costs a lookup)")
    signing_domain: str = Field("", description="d= of outbound signatures; empty = the first school domain")
    signing_selector: str = Field("", description="s= of outbound signatures; empty = no signing")
    signing_key: Path | None = Field(None, description="PEM private key file for outbound signing")

    @field_validator("nameservers")
    @classmethod
    def _nameservers_are_addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_nameserver(entry)  # ValueError names the entry; the loader names key and file
        return value


@dataclass(frozen=True, slots=True)
class DkimResult:
    result: str  # pass | fail | permerror (RFC 8601 2.7.1)
    domain: str
    selector: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SpfResult:
    result: str  # pass | fail | softfail | neutral | none | permerror (RFC 7208 2.6)
    identity: str  # "mailfrom" or "helo"
    domain: str
    mail_from: str
    helo: str
    client_ip: str
    explanation: str = ""


@dataclass(frozen=True, slots=True)
class DmarcResult:
    result: str  # pass | fail | none
    from_domain: str
    policy: str = ""  # the policy applied to a failure: none | quarantine | reject
    record: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AuthResults:
    dkim: tuple[DkimResult, ...]
    spf: SpfResult | None
    dmarc: DmarcResult | None

    def header_value(self, authserv_id: str) -> str:
        """The Authentication-Results field value (RFC 8601), without the field name."""
        results: list = []
        if not self.dkim:
            results.append(authres.DKIMAuthenticationResult(result="none"))
        for r in self.dkim:
            results.append(authres.DKIMAuthenticationResult(
                result=r.result, reason=_safe_reason(r.reason),
                header_d=_safe_pvalue(r.domain), header_s=_safe_pvalue(r.selector)))
        if self.spf is not None:
            mail_from = _safe_pvalue(self.spf.mail_from)
            results.append(authres.SPFAuthenticationResult(
                result=self.spf.result, smtp_mailfrom=mail_from if self.spf.identity == "mailfrom" else None,
                smtp_helo=_safe_pvalue(self.spf.helo)))
        if self.dmarc is not None:
            results.append(authres.dmarc.DMARCAuthenticationResult(
                result=self.dmarc.result, reason=_safe_reason(self.dmarc.reason),
                header_from=_safe_pvalue(self.dmarc.from_domain), policy=self.dmarc.policy or None))
        header = authres.AuthenticationResultsHeader(authserv_id=authserv_id, results=results)
        return str(header).partition(": ")[2]


# RFC 8601 2.2 pvalue: a token or an address. Anything else (";", quotes, spaces from a
# hostile MAIL FROM) would let a sender write their own results into our header.
_PVALUE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~@\-]+")


def _safe_pvalue(value: str) -> str | None:
    return value if value and _PVALUE.fullmatch(value) else None


def _safe_reason(reason: str) -> str | None:
    text = re.sub(r'[^ -~]|["\\]', "", reason or "")[:120]
    return text or None


def with_authentication_results(raw: bytes, value: str, authserv_id: str) -> bytes:
    """`raw` with our Authentication-Results field on top, and any field that claims our
    authserv-id removed first (RFC 8601 5: a sender could forge "dkim=pass" in our name)."""
    linesep = b"\r\n" if b"\r\n" in raw[:4096] else b"\n"
    head, sep, body = raw.partition(linesep + linesep)
    lines = head.split(linesep)
    kept: list[bytes] = []
    skipping = False
    ours = re.compile(rb"^authentication-results\s*:\s*" + re.escape(authserv_id.encode()) + rb"\s*(;|$)", re.I)
    for line in lines:
        if line[:1] not in (b" ", b"\t"):  # a new field; folded lines follow their field
            skipping = bool(ours.match(line))
        if not skipping:
            kept.append(line)
    field = b"Authentication-Results: " + value.encode("ascii", "replace")
    return linesep.join([field, *kept]) + sep + body


def _tags(record: str) -> dict[str, str]:
    """Tag=value list (RFC 7489 6.3, RFC 6376 3.2), lower-case tag names."""
    out: dict[str, str] = {}
    for part in record.split(";"):
        name, eq, value = part.partition("=")
        if eq and name.strip():
            out.setdefault(name.strip().lower(), value.strip())
    return out


def _signature_tag(header_value: bytes, tag: str) -> str:
    match = re.search(rb"(?:^|;)\s*" + tag.encode() + rb"\s*=\s*([^;\s]+)", header_value)
    return match.group(1).decode("ascii", "replace").lower() if match else ""


class _SpfQuery(spf.query):
    """pyspf's query, asking our bounded resolver instead of its module-global one.

    Our resolver follows CNAMEs itself, so this keeps pyspf's cache and its
    void-lookup limit (RFC 7208 4.6.4) and leaves the rest of the logic alone.
    A DNSLookupError is not one of pyspf's exceptions, so it leaves `check()`
    untouched: DNS trouble reaches the caller instead of becoming "temperror" text.
    """

    def __init__(self, lookups: BoundedLookups, **kwargs) -> None:
        self._lookups = lookups
        super().__init__(**kwargs)

    def dns(self, name, qtype, cnames=None, ignore_void=False):  # noqa: D401 - pyspf's signature
        name = str(name or "").rstrip(".").lower()
        if not name or not all(0 < len(label) < 64 for label in name.split(".")):
            return []  # not a valid DNS name: nothing to find (as pyspf does)
        key = (name, qtype)
        if key in self.cache:
            result = self.cache[key]
        else:
            if qtype not in SUPPORTED_TYPES:
                result = []  # type 99 (SPF) is only asked in pyspf's "harsh" mode
            else:
                answers = self._lookups.resolve(name, qtype)
                # pyspf keeps a TXT record as its list of character-strings
                result = [[a] if qtype == "TXT" else a for a in answers]
            self.cache[key] = result
        if not result and not ignore_void:
            self.void_lookups += 1
            if self.void_lookups > spf.MAX_VOID_LOOKUPS:
                raise spf.PermError(f"Void lookup limit of {spf.MAX_VOID_LOOKUPS} exceeded")
        return list(result)


_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "rev", "revd"})
_EMAILISH = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")


def name_tokens(name: str) -> tuple[str, ...]:
    """Comparable words of a person's name: accents, case, punctuation and titles dropped."""
    text = unicodedata.normalize("NFKD", name or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    words = re.findall(r"[^\W\d_]+", text)
    return tuple(w for w in words if w not in _TITLES)


class AuthenticationFilter:
    name = "authentication"
    Options = Options

    def __init__(self, options: Options, context: FilterContext, *, resolver: Resolver | None = None) -> None:
        self._options = options
        self._directory = context.directory
        settings = context.settings
        self._school_domains = tuple(d.lower() for d in settings.school.domains)
        self._trusted = parse_networks(settings.gateway.trusted_networks)
        self._authserv_id = settings.gateway.hostname
        self._metrics = context.metrics
        self._resolver_error = ""
        # a resolver handed in (tests, benchmarks, a site's own) wins over the system's
        resolver = resolver or context.extras.get("dns_resolver")
        if resolver is None:
            try:
                resolver = DnspythonResolver(options.nameservers, down_seconds=options.dns_down_seconds)
            except DNSLookupError as exc:
                self._resolver_error = str(exc)
        self._resolver = resolver
        self._psl = public_suffixes()
        self._results: OrderedDict[str, AuthResults] = OrderedDict()

    # -- scope -------------------------------------------------------------------
    def from_outside(self, view: MessageView) -> bool:
        """The connecting client is not the school's own (trusted) network."""
        text = (view.envelope.client_ip or "").strip().strip("[]")
        if not text:
            # no client IP (a message scanned from a file): judge by the sender
            return not view.sender.internal
        return not in_networks(text, self._trusted)

    def _is_school_domain(self, domain: str) -> bool:
        domain = domain.lower().rstrip(".")
        return any(domain == d or domain.endswith("." + d) for d in self._school_domains)

    def org_domain(self, domain: str) -> str:
        """Organizational domain (RFC 7489 3.2); a name that is itself a public suffix
        (every school under *.sch.uk's counties is one) stands for itself."""
        domain = domain.lower().rstrip(".")
        return self._psl.privatesuffix(domain) or domain

    def _aligned(self, a: str, b: str, mode: str) -> bool:
        a, b = a.lower().rstrip("."), b.lower().rstrip(".")
        if mode == "s":
            return a == b
        return bool(a) and bool(b) and self.org_domain(a) == self.org_domain(b)

    # -- the checks (run on an executor thread: dkimpy and pyspf block) ---------------
    def _verify_dkim(self, raw: bytes, lookups: BoundedLookups) -> tuple[DkimResult, ...]:
        try:
            verifier = dkim.DKIM(raw, minkey=self._options.min_key_bits, timeout=self._options.dns_timeout)
        except Exception as exc:  # a message dkimpy cannot even split into header and body
            return (DkimResult("permerror", "", "", f"unparseable message: {type(exc).__name__}"),)
        signatures = [v for k, v in verifier.headers if k.lower() == b"dkim-signature"]
        results: list[DkimResult] = []
        for index, value in enumerate(signatures[: self._options.max_signatures]):
            domain, selector = _signature_tag(value, "d"), _signature_tag(value, "s")
            try:
                ok = verifier.verify(idx=index, dnsfunc=lookups.dkim_dnsfunc)
            except DNSLookupError:
                raise
            except dkim.ValidationError as exc:  # e.g. body hash mismatch: the content changed
                results.append(DkimResult("fail", domain, selector, str(exc).split(" (")[0]))
                continue
            except dkim.DKIMException as exc:  # no key, bad key, malformed signature
                results.append(DkimResult("permerror", domain, selector, str(exc).split(" (")[0]))
                continue
            except Exception as exc:  # hostile signature text dkimpy trips on: the sender's fault
                results.append(DkimResult("permerror", domain, selector, f"malformed signature: {type(exc).__name__}"))
                continue
            results.append(DkimResult("pass", domain, selector) if ok else
                           DkimResult("fail", domain, selector, "signature did not verify"))
        return tuple(results)

    def _check_spf(self, view: MessageView, lookups: BoundedLookups) -> SpfResult:
        env = view.envelope
        ip = (env.client_ip or "").strip().strip("[]")
        mail_from = normalise_address(env.mail_from)
        base = dict(mail_from=mail_from, helo=env.helo or "", client_ip=ip)
        identity = "mailfrom" if mail_from else "helo"
        domain = domain_of(mail_from) if mail_from else (env.helo or "").lower()
        if not ip or not domain:
            return SpfResult("none", identity, domain, explanation="no client IP or identity to check", **base)
        try:
            query = _SpfQuery(lookups, i=ip, s=mail_from, h=env.helo or domain,
                              timeout=self._options.dns_timeout, querytime=0)
            result, _code, explanation = query.check()
        except spf.PermError as exc:  # e.g. an unparseable client address
            return SpfResult("permerror", identity, domain, explanation=str(exc), **base)
        if result == "temperror":
            raise DNSLookupError(f"SPF for {domain}: {explanation}")
        return SpfResult(result, identity, domain, explanation=explanation, **base)

    def _dmarc_record(self, domain: str, lookups: BoundedLookups) -> tuple[str | None, bool]:
        """(record, found at the organizational domain); RFC 7489 6.6.3."""
        org = self.org_domain(domain)
        for name, at_org in ((domain, False), (org, True)):
            if at_org and org == domain:
                break
            records = [r.decode("utf-8", "replace").strip() for r in lookups.txt("_dmarc." + name)]
            records = [r for r in records if re.match(r"v\s*=\s*DMARC1\s*(;|$)", r, re.I)]
            if len(records) == 1:
                return records[0], at_org
            if len(records) > 1:
                return None, at_org  # several records: as if none (6.6.3 step 2)
        return None, False

    def _check_dmarc(self, view: MessageView, dkim_results: Sequence[DkimResult],
                     spf_result: SpfResult | None, lookups: BoundedLookups) -> DmarcResult:
        from_domain = domain_of(view.from_address)
        if not from_domain:
            return DmarcResult("none", "", reason="no From domain")
        record, at_org = self._dmarc_record(from_domain, lookups)
        if record is None:
            return DmarcResult("none", from_domain, reason="no DMARC record")
        tags = _tags(record)
        adkim = "s" if tags.get("adkim", "r").lower() == "s" else "r"
        aspf = "s" if tags.get("aspf", "r").lower() == "s" else "r"
        dkim_ok = any(r.result == "pass" and self._aligned(r.domain, from_domain, adkim) for r in dkim_results)
        spf_ok = (spf_result is not None and spf_result.result == "pass"
                  and self._aligned(spf_result.domain, from_domain, aspf))
        if dkim_ok or spf_ok:
            return DmarcResult("pass", from_domain, record=record,
                               reason="aligned DKIM" if dkim_ok else "aligned SPF")
        policy = tags.get("p", "").lower()
        if at_org and tags.get("sp", "").lower() in ("none", "quarantine", "reject"):
            policy = tags["sp"].lower()
        if policy not in ("none", "quarantine", "reject"):
            policy = "none"  # 6.6.3 step 6: a record with a bad p= is treated as p=none
        try:
            pct = int(tags.get("pct", "100"))
        except ValueError:
            pct = 100
        if pct < 100:
            # 6.6.4: mail outside the sample gets the next weaker policy. We do not
            # sample, so we never go beyond what the domain's owner asked for everyone.
            policy = {"reject": "quarantine", "quarantine": "none"}.get(policy, policy)
        return DmarcResult("fail", from_domain, policy=policy, record=record,
                           reason="neither DKIM nor SPF aligned with the From domain")

    def evaluate_sync(self, view: MessageView) -> AuthResults:
        """Every DNS-based check for one message. Blocking: call it off the event loop."""
        if self._resolver is None:
            raise DNSLookupError(f"no DNS resolver: {self._resolver_error}")
        opts = self._options
        lookups = BoundedLookups(self._resolver, per_query=opts.dns_timeout, total=opts.dns_budget)
        need_dkim = opts.dkim or opts.dmarc or opts.spoofing
        dkim_results = self._verify_dkim(view.raw, lookups) if need_dkim else ()
        spf_result = self._check_spf(view, lookups) if (opts.spf or opts.dmarc) else None
        dmarc_result = self._check_dmarc(view, dkim_results, spf_result, lookups) if opts.dmarc else None
        return AuthResults(dkim_results, spf_result, dmarc_result)

    # -- findings ------------------------------------------------------------------
    def _auth_findings(self, res: AuthResults) -> list[Finding]:
        found: list[Finding] = []
        opts = self._options
        # temperror is DNS trouble, not a broken signature: AUTH_TEMPERROR says so
        broken = [r for r in res.dkim if r.result not in ("pass", "temperror")]
        if opts.dkim and broken and not any(r.result == "pass" for r in res.dkim):
            why = "; ".join(f"{r.domain or '?'}: {r.reason}" for r in broken)
            found.append(Finding(
                "DKIM_FAIL", self.name, Category.AUTHENTICATION, Severity.LOW,
                # the signature's own d= and s= tags, as they appear in the header
                tuple(dict.fromkeys(t for r in broken for t in (f"d={r.domain}", f"s={r.selector}")
                                    if not t.endswith("="))) or ("DKIM-Signature",),
                f"The message carries a DKIM signature that does not verify ({why}), so it may "
                f"have been altered or forged."))
        s = res.spf
        if opts.spf and s is not None and s.result in ("fail", "softfail"):
            who = s.mail_from or s.helo
            if s.result == "fail":
                found.append(Finding(
                    "SPF_FAIL", self.name, Category.AUTHENTICATION, Severity.MEDIUM, (who, s.client_ip),
                    f"{s.domain} says the server {s.client_ip} is not allowed to send its mail (SPF fail)."))
            else:
                found.append(Finding(
                    "SPF_SOFTFAIL", self.name, Category.AUTHENTICATION, Severity.LOW, (who, s.client_ip),
                    f"{s.domain} says the server {s.client_ip} is probably not one of its senders (SPF softfail)."))
        d = res.dmarc
        if opts.dmarc and d is not None and d.result == "fail":
            code, severity, asks = {
                "reject": ("DMARC_REJECT", Severity.HIGH, "asks receivers to reject it"),
                "quarantine": ("DMARC_QUARANTINE", Severity.MEDIUM, "asks receivers to treat it as suspicious"),
            }.get(d.policy, ("DMARC_FAIL", Severity.LOW, "only asks for reports"))
            found.append(Finding(
                code, self.name, Category.AUTHENTICATION, severity, (d.from_domain, d.record),
                f"The From domain {d.from_domain} did not authenticate this message (DMARC fail) "
                f"and its owner {asks}."))
        return found

    def _from_addresses(self, view: MessageView) -> list[str]:
        """Every address in every From field: a second From is a classic trick."""
        try:
            pairs = getaddresses(view.header_all("From"))
        except Exception:
            pairs = []
        addrs = [normalise_address(a) for _, a in pairs if a]
        if view.from_address and view.from_address not in addrs:
            addrs.insert(0, view.from_address)
        return list(dict.fromkeys(addrs))

    def _spoof_findings(self, view: MessageView, res: AuthResults | None) -> list[Finding]:
        claims = [a for a in self._from_addresses(view) if self._is_school_domain(domain_of(a))]
        mail_from = normalise_address(view.envelope.mail_from)
        if mail_from and self._is_school_domain(domain_of(mail_from)) and mail_from not in claims:
            claims.append(mail_from)
        if not claims:
            return []
        signed = res is not None and any(r.result == "pass" and self._is_school_domain(r.domain) for r in res.dkim)
        if signed:
            return []
        return [Finding(
            "SPOOFED_SCHOOL_SENDER", self.name, Category.SPOOFING, Severity.HIGH, tuple(claims),
            f"This message came from outside the school ({view.envelope.client_ip or 'unknown server'}) "
            f"but claims to be from {', '.join(claims)}, without the school's DKIM signature.")]

    def _impersonation_findings(self, view: MessageView) -> list[Finding]:
        name = view.from_name or ""
        if not name or not view.from_address or self._is_school_domain(domain_of(view.from_address)):
            return []
        evidence: list[str] = []
        whom: list[str] = []
        # "head@school.sch.uk" <someone@gmail.com>: a school address as display name
        for match in _EMAILISH.finditer(name):
            if self._is_school_domain(domain_of(match.group(0))):
                evidence.append(match.group(0))
                whom.append(match.group(0).lower())
        tokens = set(name_tokens(name))
        if tokens:
            for person in getattr(self._directory, "people", ()):
                if str(person.role) != "staff":
                    continue
                wanted = name_tokens(person.name)
                # two words at least: "Smith" alone is every third parent
                if len(wanted) < 2 or not set(wanted) <= tokens:
                    continue
                if view.from_address in person.personal_emails:
                    continue  # the teacher's own listed private account, not a forgery
                evidence.append(name)
                whom.append(person.name)
        if not evidence:
            return []
        return [Finding(
            "DISPLAY_NAME_IMPERSONATION", self.name, Category.SPOOFING, Severity.MEDIUM,
            tuple(dict.fromkeys(evidence)),
            f"The sender's display name claims to be {', '.join(dict.fromkeys(whom))} of the school, "
            f"but the address {view.from_address} is outside the school.")]

    async def check(self, view: MessageView) -> Sequence[Finding]:
        if not self.from_outside(view):
            return []  # the school's own server: its mail is signed, not verified
        opts = self._options
        res: AuthResults | None = None
        findings: list[Finding] = []
        if opts.dkim or opts.spf or opts.dmarc or opts.spoofing:
            loop = asyncio.get_running_loop()
            try:
                res = await loop.run_in_executor(None, self.evaluate_sync, view)
            except DNSLookupError as exc:
                if opts.on_error != "tag":
                    raise  # the chain records the failure and applies tempfail / hold
                res = self._temperror(view, str(exc))
                findings.append(self._temperror_finding(view, str(exc)))
            self._results[view.id] = res
            while len(self._results) > _RESULTS_KEPT:
                self._results.popitem(last=False)
        if res is not None:
            findings.extend(self._auth_findings(res))
        if opts.spoofing:
            # a temperror proves no school signature: a school sender from outside is still reported
            findings.extend(self._spoof_findings(view, res))
        if opts.display_names:
            findings.extend(self._impersonation_findings(view))
        return findings

    def _temperror(self, view: MessageView, detail: str) -> AuthResults:
        env = view.envelope
        mail_from = normalise_address(env.mail_from)
        spf_domain = domain_of(mail_from) if mail_from else (env.helo or "").lower()
        return AuthResults(
            (DkimResult("temperror", "", "", "DNS did not answer"),),
            SpfResult("temperror", "mailfrom" if mail_from else "helo", spf_domain, mail_from, env.helo or "",
                      (env.client_ip or "").strip("[]"), explanation="DNS did not answer"),
            DmarcResult("temperror", domain_of(view.from_address), reason="DNS did not answer"))

    def _temperror_finding(self, view: MessageView, detail: str) -> Finding:
        # never silent: one log line per message and a counter for the dashboards
        log.warning("message %s: authentication: DNS failed (%s); delivered per on_error=tag with %s",
                    view.id, detail, TEMPERROR_CODE)
        if self._metrics is not None:
            self._metrics.filter_failures.labels(self.name, "dns").inc()
        return Finding(
            TEMPERROR_CODE, self.name, Category.AUTHENTICATION, Severity.LOW, (detail,),
            "DNS did not answer, so the sender's DKIM, SPF and DMARC could not be checked; "
            "treat the message's origin as unverified.")

    def results_for(self, view: MessageView) -> AuthResults | None:
        return self._results.get(view.id)

    def authentication_results(self, view: MessageView) -> str:
        """The Authentication-Results value for a message this filter checked, for the
        gateway to add (see `with_authentication_results`); "" when it did not check it
        (the school's own outbound mail)."""
        res = self._results.get(view.id)
        return res.header_value(self._authserv_id) if res is not None else ""

    def annotate(self, view: MessageView, raw: bytes) -> bytes:
        """The chain's annotation hook: add our Authentication-Results field for the
        next hop, and forget the kept result (it has done its job)."""
        res = self._results.pop(view.id, None)
        if res is None:
            return raw
        return with_authentication_results(raw, res.header_value(self._authserv_id), self._authserv_id)

    async def self_test(self) -> list[str]:
        warnings: list[str] = []
        effect = {"tag": f"inbound mail is delivered tagged {TEMPERROR_CODE}",
                  "tempfail": "every inbound message will tempfail",
                  "hold": "every inbound message will be held"}[self._options.on_error]
        if self._resolver is None:
            warnings.append(f"authentication: {self._resolver_error}; {effect}")
        elif self._school_domains:
            # one real query, so a resolver that cannot be reached shows at deploy time
            probe = self._school_domains[0]
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(None, self._resolver.resolve, probe, "TXT", self._options.dns_timeout)
            except DNSLookupError as exc:
                warnings.append(f"authentication: DNS does not answer ({exc}); until it does {effect} "
                                f"(set [authentication] nameservers, docs/authentication.md)")
        if self._options.dns_budget >= self._options.timeout:
            warnings.append("authentication: dns_budget should be below timeout, or DNS work outlives "
                            "the chain's deadline on a slow resolver")
        return warnings
