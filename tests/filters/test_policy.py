"""The policy: one action per recipient from rules, floors and reporting channels."""
from __future__ import annotations

import pytest

from filters.base import Action, Category, Finding, Severity
from filters.policy import Policy
from tests.factories import SCHOOL_DOMAIN, make_message, make_settings, make_view, write_directory
from filters.directory import Directory


def finding(category: Category, severity: Severity = Severity.HIGH, code: str = "X", recipients=()):
    return Finding(code, "test", category, severity, ("e",), "reason", tuple(recipients))


@pytest.fixture
def directory(tmp_path):
    csv = write_directory(tmp_path / "d.csv", [
        (f"mrs.jones@{SCHOOL_DOMAIN}", "staff", "Ann Jones", ""),
        (f"sam@{SCHOOL_DOMAIN}", "student", "Sam Smith", "")])
    return Directory(csv, {}, (SCHOOL_DOMAIN,))


def view_for(directory, mail_from, rcpts):
    return make_view(make_message("x", sender=mail_from, to=", ".join(rcpts)), mail_from=mail_from,
                     rcpt_to=tuple(rcpts), directory=directory)


@pytest.mark.parametrize("mail_from,rcpt,expected", [
    ("evil@example.com", f"sam@{SCHOOL_DOMAIN}", Action.REJECT),       # inbound virus: reject
    (f"sam@{SCHOOL_DOMAIN}", "friend@example.com", Action.HOLD),        # infected school machine: hold
    (f"sam@{SCHOOL_DOMAIN}", f"mrs.jones@{SCHOOL_DOMAIN}", Action.HOLD),
])
def test_virus_by_direction(directory, mail_from, rcpt, expected):
    view = view_for(directory, mail_from, [rcpt])
    verdict = Policy(make_settings()).decide(view, [finding(Category.VIRUS, Severity.CRITICAL, "VIRUS_FOUND")])
    assert verdict.actions[rcpt] == expected
    if expected == Action.HOLD:
        assert "it" in verdict.alerts


def test_safeguarding_floor_cannot_be_lowered(directory):
    settings = make_settings(policy={"rules": [{"category": "self_harm", "action": "pass"}]})
    view = view_for(directory, f"sam@{SCHOOL_DOMAIN}", [f"mrs.jones@{SCHOOL_DOMAIN}"])
    verdict = Policy(settings).decide(view, [finding(Category.SELF_HARM)])
    assert verdict.action == Action.HOLD and "dsl" in verdict.alerts


def test_reporting_address_is_never_blocked(directory):
    report = f"worried@{SCHOOL_DOMAIN}"
    settings = make_settings(school={"reporting_addresses": [report]})
    view = view_for(directory, f"sam@{SCHOOL_DOMAIN}", [report, f"mrs.jones@{SCHOOL_DOMAIN}"])
    verdict = Policy(settings).decide(view, [finding(Category.BULLYING), finding(Category.GROOMING)])
    assert verdict.actions[report] == Action.TAG
    assert verdict.actions[f"mrs.jones@{SCHOOL_DOMAIN}"] == Action.HOLD
    assert "dsl" in verdict.alerts


def test_recipient_specific_finding_applies_to_that_recipient_only(directory):
    view = view_for(directory, f"mrs.jones@{SCHOOL_DOMAIN}", ["ann.jones@gmail.com", "parent@example.com"])
    verdict = Policy(make_settings()).decide(
        view, [finding(Category.PERSONAL_ACCOUNT, Severity.HIGH, recipients=["ann.jones@gmail.com"])])
    assert verdict.actions == {"ann.jones@gmail.com": Action.HOLD, "parent@example.com": Action.PASS}


@pytest.mark.parametrize("role_from,severity,expected", [
    ("staff", Severity.LOW, Action.PASS),      # "damn" in staff mail is not an incident
    ("student", Severity.LOW, Action.TAG),
    ("student", Severity.HIGH, Action.HOLD),
])
def test_profanity_by_sender_role(directory, role_from, severity, expected):
    sender = f"mrs.jones@{SCHOOL_DOMAIN}" if role_from == "staff" else f"sam@{SCHOOL_DOMAIN}"
    view = view_for(directory, sender, ["someone@example.com"])
    verdict = Policy(make_settings()).decide(view, [finding(Category.PROFANITY, severity)])
    assert verdict.action == expected


def test_parse_error_view_is_held(directory):
    from dataclasses import replace
    view = replace(view_for(directory, "a@example.com", [f"sam@{SCHOOL_DOMAIN}"]), parse_error="boom")
    verdict = Policy(make_settings()).decide(view, [])
    assert verdict.action == Action.HOLD and "PARSE_ERROR" in verdict.codes


def test_clean_message_passes(directory):
    view = view_for(directory, "a@example.com", [f"sam@{SCHOOL_DOMAIN}"])
    assert Policy(make_settings()).decide(view, []).action == Action.PASS


def test_allowed_sender_waives_content_but_never_safeguarding_or_virus(directory):
    view = view_for(directory, "club@example.com", [f"sam@{SCHOOL_DOMAIN}"])
    allowed = finding(Category.SENDER_LIST, Severity.LOW, "SENDER_ALLOWED")
    policy = Policy(make_settings())
    assert policy.decide(view, [allowed, finding(Category.ATTACHMENT)]).action == Action.PASS
    assert policy.decide(view, [allowed, finding(Category.GROOMING)]).action == Action.HOLD
    assert policy.decide(view, [allowed, finding(Category.VIRUS, code="VIRUS_FOUND")]).action == Action.REJECT


def test_allowed_sender_never_waives_a_forgery_of_that_sender(directory):
    # a reviewer allowed the head's address; a forger from outside claims it
    view = view_for(directory, f"mrs.jones@{SCHOOL_DOMAIN}", [f"sam@{SCHOOL_DOMAIN}"])
    allowed = finding(Category.SENDER_LIST, Severity.LOW, "SENDER_ALLOWED")
    spoofed = finding(Category.SPOOFING, Severity.HIGH, "SPOOFED_SCHOOL_SENDER")
    decided = Policy(make_settings()).decide(view, [allowed, spoofed])
    assert decided.action != Action.PASS and "SPOOFED_SCHOOL_SENDER" in decided.codes


def test_rule_limited_to_recipient_roles_applies_to_those_roles_only(directory):
    from filters.base import Role
    from config.schema import PolicyRule
    view = view_for(directory, "a@example.com", [f"mrs.jones@{SCHOOL_DOMAIN}", f"sam@{SCHOOL_DOMAIN}"])
    settings = make_settings()
    settings.policy.rules.insert(0, PolicyRule(category=Category.ATTACHMENT, recipient_roles=[Role.STAFF],
                                               action=Action.PASS))
    verdict = Policy(settings).decide(view, [finding(Category.ATTACHMENT, Severity.HIGH)])
    assert verdict.actions[f"mrs.jones@{SCHOOL_DOMAIN}"] == Action.PASS
    assert verdict.actions[f"sam@{SCHOOL_DOMAIN}"] == Action.HOLD


def test_reject_reason_is_the_rejecting_findings_reason(directory):
    view = view_for(directory, "evil@example.com", [f"sam@{SCHOOL_DOMAIN}"])
    virus = Finding("VIRUS_FOUND", "virus", Category.VIRUS, Severity.CRITICAL, ("Eicar",), "The virus scanner found Eicar.")
    low = finding(Category.ATTACHMENT, Severity.LOW, "LOW_THING")
    verdict = Policy(make_settings()).decide(view, [low, virus])
    assert verdict.action == Action.REJECT and verdict.reject_reason == "The virus scanner found Eicar."


def test_parse_error_finding_is_not_added_twice(directory):
    from dataclasses import replace
    from filters.policy import parse_error_finding
    view = replace(view_for(directory, "a@example.com", [f"sam@{SCHOOL_DOMAIN}"]), parse_error="boom")
    verdict = Policy(make_settings()).decide(view, [parse_error_finding(view)])
    assert [f.code for f in verdict.findings].count("PARSE_ERROR") == 1
