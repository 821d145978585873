"""The only place findings become actions: one per recipient, by category,
severity, direction and role, from config; some categories force a floor."""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Sequence

from config.schema import PolicyRule, Settings
from filters.tenancy import Tenancy
from filters.base import (Action, Category, FilterFailure, Finding, Role, SAFEGUARDING_CATEGORIES,
                          Severity, Verdict)
from filters.levels import DISCLOSURE, LEVELS, default_level
from filters.message import MessageView, Party

# Floors no configuration can lower (the school's duty of care, not a preference):
# a virus is never delivered, a safeguarding concern is always seen by the DSL,
# a message we could not read is never passed unseen.
_FLOORS: dict[Category, Action] = {
    Category.VIRUS: Action.HOLD,
    Category.SCAN_INCOMPLETE: Action.HOLD,
    Category.PARSE_ERROR: Action.HOLD,
    **{c: Action.HOLD for c in SAFEGUARDING_CATEGORIES},
}

# Safeguarding by level (issue 17, docs/safeguarding.md): from level 4 (a disclosure, an
# explicit threat) up, whatever the category, the message is held and the DSL alerted;
# the level then sets the alert's urgency and orders the DSL's queue.
DSL_LEVEL = DISCLOSURE

PARSE_ERROR_CODE = "PARSE_ERROR"
# Issue 21 clause 4 (Lees Brook: "Personal data sent over the Internet ... will be encrypted"):
# a copy carrying these leaves only over a connection that negotiated TLS with a verified
# certificate, checked per delivery (gateway/routing.py) and again on release.
UNENCRYPTED_CODE = "PUPIL_DATA_UNENCRYPTED"
_NEEDS_TLS = frozenset({Category.PUPIL_DATA, Category.DISCLOSURE})
SENDER_ALLOWED_CODE = "SENDER_ALLOWED"

# What a reviewer's "allow this sender" can never waive. Spoofing included: the allow
# list is keyed on the claimed address, which is exactly what a forger copies.
_NEVER_WAIVED = frozenset({Category.VIRUS, Category.SCAN_INCOMPLETE, Category.PARSE_ERROR,
                           Category.SPOOFING, *SAFEGUARDING_CATEGORIES})


def graded(finding: Finding) -> Finding:
    """The finding with its risk level: a filter's own, else the default of filters/levels.py
    for safeguarding and offensive codes (0 stays 0 for everything else)."""
    if finding.level or not (finding.safeguarding or finding.code in LEVELS):
        return finding
    return replace(finding, level=default_level(finding))


def parse_error_finding(view: MessageView) -> Finding:
    return Finding(code=PARSE_ERROR_CODE, filter="message", category=Category.PARSE_ERROR,
                   severity=Severity.HIGH, evidence=(view.parse_error[:200],),
                   reason="The message could not be parsed, so no filter could read it; held for a person to look at.")


def _stopped_at_reporting(finding: Finding) -> bool:
    """What a reporting inbox does not get: viruses, unscanned or unreadable mail, programs
    and archive bombs (the attachment filter's high findings)."""
    return finding.category in (Category.VIRUS, Category.SCAN_INCOMPLETE, Category.PARSE_ERROR) or (
        finding.category == Category.ATTACHMENT and finding.severity >= Severity.HIGH)


def pupil_concerned(sender: Party, rcpt: Party) -> Party | None:
    """Whose year a rule's `years`/`groups` look at: the sender when a pupil, else the recipient."""
    if sender.role == Role.STUDENT:
        return sender
    return rcpt if rcpt.role == Role.STUDENT else None


def _pupil_matches(rule: PolicyRule, sender: Party, rcpt: Party) -> bool:
    # groups match staff too (a "work_experience_coordinators" set), years only pupils
    who = pupil_concerned(sender, rcpt)
    if rule.years and (who is None or who.year not in rule.years):
        return False
    if rule.groups:
        people = (who,) if who is not None else (sender, rcpt)
        if not any(set(rule.groups) & set(p.groups) for p in people):
            return False
    return True


class Policy:
    def __init__(self, settings: Settings) -> None:
        self._rules: Sequence[PolicyRule] = settings.policy.rules
        # a trust's school overrides ([[schools]] policy): tried first for the copies that school owns
        self._tenancy = Tenancy.from_settings(settings)
        self._school_rules = {s.id: tuple(s.policy) for s in settings.schools if s.policy}
        self._defaults = settings.policy.default_actions
        self._reporting = {a.lower() for a in settings.school.reporting_addresses}
        self._incident_categories = frozenset(settings.school.reporting_incident_categories)

    def _rule_for(self, finding: Finding, view: MessageView, rcpt: Party) -> PolicyRule | None:
        direction = view.direction_for(rcpt)
        rules: Sequence[PolicyRule] = self._rules
        if self._school_rules:
            owner = self._tenancy.owners(view.envelope.mail_from, view.sender.internal, rcpt.address)[0]
            rules = (*self._school_rules.get(owner, ()), *self._rules)
        for rule in rules:
            if rule.code is not None and rule.code != finding.code:
                continue
            if rule.category is not None and rule.category != finding.category:
                continue
            if not rule.min_severity <= finding.severity <= rule.max_severity:
                continue
            if rule.directions and direction not in rule.directions:
                continue
            if rule.sender_roles and view.sender.role not in rule.sender_roles:
                continue
            if rule.recipient_roles and rcpt.role not in rule.recipient_roles:
                continue
            if (rule.years or rule.groups) and not _pupil_matches(rule, view.sender, rcpt):
                continue
            return rule
        return None

    def action_for(self, finding: Finding, view: MessageView, rcpt: Party) -> tuple[Action, tuple[str, ...]]:
        rule = self._rule_for(finding, view, rcpt)
        action = rule.action if rule else self._defaults.get(finding.severity, Action.HOLD)
        alerts = tuple(rule.alert) if rule else ()
        action = max(action, _FLOORS.get(finding.category, Action.PASS))
        if finding.level >= DSL_LEVEL:
            action = max(action, Action.HOLD)
        if finding.safeguarding or finding.level >= DSL_LEVEL:
            alerts = tuple(dict.fromkeys((*alerts, "dsl")))
        # Reporting channels are never blocked: a pupil forwarding the abuse they
        # received must be helped, not silenced. Viruses, programs (issue 21 clause 5:
        # an .exe was tagged and delivered) and unreadable mail stay out regardless.
        if rcpt.address in self._reporting and not _stopped_at_reporting(finding):
            action = min(action, Action.TAG)
            if finding.category in self._incident_categories:
                alerts = tuple(dict.fromkeys((*alerts, "dsl")))
        return action, alerts

    def decide(self, view: MessageView, findings: Iterable[Finding],
               failures: Iterable[FilterFailure] = ()) -> Verdict:
        findings = [graded(f) for f in findings]
        failures = tuple(failures)
        if view.parse_error and not any(f.code == PARSE_ERROR_CODE for f in findings):
            findings.insert(0, parse_error_finding(view))
        actions: dict[str, Action] = {}
        alerts: set[str] = set()
        reject_reason = ""
        tempfail_reason = ""
        failure_floor = max((f.on_error for f in failures), default=Action.PASS)
        # An allowed sender's content findings stay on record but do not act;
        # viruses, unreadable mail and safeguarding concerns always do.
        # In a trust the allow may be one school's, so for the copies that school owns only
        # (the finding's recipients; filters/sender_list.py).
        allows = [f for f in findings if f.code == SENDER_ALLOWED_CODE]

        def acting_for(address: str) -> list[Finding]:
            allowed = any(not f.recipients or address in f.recipients for f in allows)
            return [f for f in findings if not allowed or f.category in _NEVER_WAIVED
                    or f.level >= DSL_LEVEL or f.category == Category.SENDER_LIST]

        by_rcpt = {r.address: acting_for(r.address) for r in view.recipients}
        decided: dict[str, Action] = {}
        for rcpt in view.recipients:
            action, found_alerts, reject, tempfail = self._decide_one(by_rcpt[rcpt.address], view, rcpt)
            reject_reason = reject_reason or reject
            tempfail_reason = tempfail_reason or tempfail
            alerts.update(found_alerts)
            decided[rcpt.address] = action
        # Issue 21 clause 4: pupil data leaves only over verified TLS, checked per delivery on the
        # connection itself (gateway/routing.py); here: which delivered copies need it, and what
        # the rule says when it is missing. Held copies are re-checked when released.
        tls_required = self._tls_required(view, by_rcpt, {r: max(a, failure_floor) for r, a in decided.items()})
        for rcpt in view.recipients:
            actions[rcpt.address] = max(decided[rcpt.address], failure_floor)
        # issue 21 clause 5: a delivered report carrying a safeguarding concern is an incident
        incidents = tuple(
            r.address for r in view.recipients if r.address in self._reporting
            and actions[r.address] <= Action.TAG and any(
                f.category in self._incident_categories and (not f.recipients or r.address in f.recipients)
                for f in by_rcpt[r.address]))
        if incidents:
            alerts.add("dsl")
        return Verdict(actions=actions, findings=tuple(findings), failures=failures,
                       alerts=frozenset(alerts), reject_reason=reject_reason,
                       tempfail_reason=tempfail_reason, incident_recipients=incidents,
                       tls_required=tls_required)

    def _decide_one(self, acting: list[Finding], view: MessageView, rcpt: Party
                    ) -> tuple[Action, set[str], str, str]:
        action, alerts, reject_reason, tempfail_reason = Action.PASS, set(), "", ""
        for finding in acting:
            if finding.recipients and rcpt.address not in finding.recipients:
                continue
            found_action, found_alerts = self.action_for(finding, view, rcpt)
            if found_action > action:
                action = found_action
                if found_action == Action.REJECT:
                    reject_reason = finding.reason
                elif found_action == Action.TEMPFAIL and not tempfail_reason:
                    tempfail_reason = finding.reason
            alerts.update(found_alerts)
        return action, alerts, reject_reason, tempfail_reason

    def _tls_required(self, view: MessageView, acting: dict[str, list[Finding]],
                      decided: dict[str, Action]) -> dict[str, Action]:
        out: dict[str, Action] = {}
        for rcpt in view.recipients:
            if rcpt.internal or decided[rcpt.address] > Action.TAG:
                continue
            codes = needs_tls_codes(acting[rcpt.address], rcpt.address)
            if not codes:
                continue
            probe = unencrypted_finding(codes, (rcpt.address,), "the route out", tls_reason(codes))
            action, _ = self.action_for(probe, view, rcpt)
            if action in (Action.TEMPFAIL, Action.HOLD, Action.REJECT):
                # a site rule of pass/tag means the school accepts plain text: no requirement
                out[rcpt.address] = Action.HOLD if action == Action.HOLD else Action.TEMPFAIL
        return out


def needs_tls_codes(findings: Iterable[Finding], address: str) -> tuple[str, ...]:
    """The pupil-data and disclosure codes a copy to `address` carries (issue 21 clause 4)."""
    return tuple(dict.fromkeys(f.code for f in findings if f.category in _NEEDS_TLS
                               and (not f.recipients or address in f.recipients)))


def tls_reason(codes: Sequence[str]) -> str:
    """Why the copy needs verified TLS; the relay adds what the connection negotiated."""
    return f"Personal data ({', '.join(codes)}) may leave the school only over a verified TLS connection"


def unencrypted_finding(codes: Sequence[str], recipients: Sequence[str], route: str, why: str) -> Finding:
    """PUPIL_DATA_UNENCRYPTED: copies not sent because their connection was not verified TLS.
    `why`: the relay's sentence (tls_reason plus what the connection negotiated)."""
    return Finding(
        code=UNENCRYPTED_CODE, filter="policy", category=Category.PUPIL_DATA, severity=Severity.HIGH,
        evidence=(f"route: {route}", *codes),
        reason=f"{why.rstrip('.')}. Held: release it once the route out verifies TLS (it is checked again).",
        recipients=tuple(recipients))
