"""The only place findings become actions: one per recipient, by category,
severity, direction and role, from config; some categories force a floor."""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Sequence

from config.schema import PolicyRule, Settings
from filters.base import (Action, Category, FilterFailure, Finding, SAFEGUARDING_CATEGORIES,
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


class Policy:
    def __init__(self, settings: Settings) -> None:
        self._rules: Sequence[PolicyRule] = settings.policy.rules
        self._defaults = settings.policy.default_actions
        self._reporting = {a.lower() for a in settings.school.reporting_addresses}

    def _rule_for(self, finding: Finding, view: MessageView, rcpt: Party) -> PolicyRule | None:
        direction = view.direction_for(rcpt)
        for rule in self._rules:
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
        # received must be helped, not silenced. Viruses stay out regardless.
        if rcpt.address in self._reporting and finding.category not in (
                Category.VIRUS, Category.SCAN_INCOMPLETE, Category.PARSE_ERROR):
            action = min(action, Action.TAG)
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
        failure_floor = max((f.on_error for f in failures), default=Action.PASS)
        # An allowed sender's content findings stay on record but do not act;
        # viruses, unreadable mail and safeguarding concerns always do.
        allowed = any(f.code == SENDER_ALLOWED_CODE for f in findings)
        acting = [f for f in findings if not allowed or f.category in _NEVER_WAIVED
                  or f.level >= DSL_LEVEL or f.category == Category.SENDER_LIST]
        for rcpt in view.recipients:
            action = Action.PASS
            for finding in acting:
                if finding.recipients and rcpt.address not in finding.recipients:
                    continue
                found_action, found_alerts = self.action_for(finding, view, rcpt)
                if found_action > action:
                    action = found_action
                    if found_action == Action.REJECT:
                        reject_reason = finding.reason
                alerts.update(found_alerts)
            actions[rcpt.address] = max(action, failure_floor)
        return Verdict(actions=actions, findings=tuple(findings), failures=failures,
                       alerts=frozenset(alerts), reject_reason=reject_reason)
