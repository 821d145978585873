"""sender_trust: a school sender claimed from outside trusted_networks is SPOOFED_SCHOOL_SENDER,
held for pupils and tagged for staff by the shipped policy, with no DNS at all."""
from __future__ import annotations

from pathlib import Path

import pytest

from filters.base import Action, Category, FilterContext, Severity
from filters.chain import FilterChain
from filters.directory import Directory
from filters.message import Envelope, build_view
from filters.policy import Policy
from filters.sender_trust import Options, SenderTrustFilter
from tests.factories import SCHOOL_DOMAIN, make_message, make_settings, write_directory

HEAD = f"head@{SCHOOL_DOMAIN}"
PUPIL = f"pupil@{SCHOOL_DOMAIN}"
TEACHER = f"teacher@{SCHOOL_DOMAIN}"


@pytest.fixture
def setup(tmp_path: Path):
    csv = write_directory(tmp_path / "dir.csv", [(HEAD, "staff", "Hal Head", ""), (TEACHER, "staff", "Tess T", ""),
                                                 (PUPIL, "student", "Pip Pupil", "")])
    settings = make_settings(tmp_path, directory={"csv": str(csv)})
    directory = Directory(csv, {}, (SCHOOL_DOMAIN,))
    return settings, directory


def view(directory, *, mail_from: str, header_from: str, trusted: bool, ip: str = "198.51.100.7",
         rcpts=(PUPIL, TEACHER)):
    raw = make_message("Please reply with your address", sender=header_from, to=", ".join(rcpts))
    return build_view(raw, Envelope(mail_from, tuple(rcpts), ip, "mx.example", client_trusted=trusted), directory)


def make_filter(settings, directory, **options) -> SenderTrustFilter:
    return SenderTrustFilter(Options(**options), FilterContext(settings=settings, directory=directory))


@pytest.mark.parametrize("mail_from,header_from,trusted,claims", [
    (HEAD, HEAD, False, (HEAD,)),  # envelope and From: forged
    ("bounce@evil.example", f"The Head <{HEAD}>", False, (HEAD,)),  # From: only
    (HEAD, "someone@example.org", False, (HEAD,)),  # envelope only
    ("parent@example.org", "parent@example.org", False, ()),  # an ordinary outsider
    (HEAD, HEAD, True, ()),  # the school's own server
])
async def test_claims_from_outside_are_reported(setup, mail_from, header_from, trusted, claims):
    settings, directory = setup
    found = await make_filter(settings, directory).check(
        view(directory, mail_from=mail_from, header_from=header_from, trusted=trusted))
    if not claims:
        assert found == []
        return
    [finding] = found
    assert finding.code == "SPOOFED_SCHOOL_SENDER" and finding.category == Category.SPOOFING
    assert finding.severity == Severity.HIGH and finding.evidence == claims
    assert "198.51.100.7" in finding.reason


async def test_from_header_check_can_be_switched_off(setup):
    settings, directory = setup
    found = await make_filter(settings, directory, from_header=False).check(
        view(directory, mail_from="bounce@evil.example", header_from=HEAD, trusted=False))
    assert found == []


async def test_allowed_networks_may_send_as_the_school(setup):
    settings, directory = setup
    flt = make_filter(settings, directory, allowed_networks=["198.51.100.0/24"])
    assert await flt.check(view(directory, mail_from=HEAD, header_from=HEAD, trusted=False)) == []
    assert await flt.check(view(directory, mail_from=HEAD, header_from=HEAD, trusted=False, ip="203.0.113.1"))


def test_bad_allowed_network_is_a_config_error():
    with pytest.raises(ValueError, match="not-a-network"):
        Options(allowed_networks=["not-a-network"])


async def test_shipped_policy_holds_for_pupils_and_tags_for_staff(setup):
    settings, directory = setup
    assert "sender_trust" in settings.filters.chain  # in the shipped chain
    v = view(directory, mail_from=HEAD, header_from=HEAD, trusted=False)
    flt = make_filter(settings, directory)
    result = await FilterChain([(flt, settings.filter_options["sender_trust"])]).run(v)
    verdict = Policy(settings).decide(v, result.findings, result.failures)
    assert verdict.actions == {PUPIL: Action.HOLD, TEACHER: Action.TAG}
    assert "SPOOFED_SCHOOL_SENDER" in verdict.codes
