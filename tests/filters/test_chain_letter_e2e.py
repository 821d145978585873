"""Chain letters over SMTP through the real gateway: bulk on the real seen store, holds, notices, look-alikes delivered."""
from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from tests.factories import SCHOOL_DOMAIN, make_message
from tests.quarantine.conftest import review_gateway  # noqa: F401 - the gateway fixture shared with quarantine tests

DATA = Path(__file__).resolve().parents[1] / "data" / "chain_letters"
PUPILS = f"pupils.{SCHOOL_DOMAIN}"
NOTIFY = {"enabled": True, "from_address": f"schoolgate@{SCHOOL_DOMAIN}", "check_seconds": 3600}
CHAIN_ONLY = {"chain": ["chain_letter"]}
ROLES = {"domain_roles": {PUPILS: "student"}}

# Chain-letter content (a request with a count) that is not enough on its own: only the
# same text from several pupils (the chain in motion) makes it one.
# a count but no lever: under the threshold alone, held only as bulk (not "to see how far a message can
# travel": since the eighth pass that e-mail experiment is a lever of its own)
RELAY_BODY = ("Hey guys please send this to 10 people, we are passing a message round "
              "our school before the end of term, add your form name at the bottom and keep it going "
              "so we can count how many forms it reached by the end of the week thanks")


async def _held(gw) -> list:
    return await gw.store.run(gw.store.list_sync)


def _delivered_subjects(sink) -> list[str]:
    out = []
    for message in sink.messages:
        parsed = email.message_from_bytes(message.data, policy=email.policy.default)
        if not parsed["X-Schoolgate-Notice"]:
            out.append(str(parsed["Subject"]))
    return out


async def test_same_body_from_three_pupils_is_held_as_bulk_over_smtp(review_gateway, sink) -> None:
    gw = await review_gateway(filters=CHAIN_ONLY, directory=ROLES)
    friend = f"kayla.m@{PUPILS}"
    codes = []
    for i, name in enumerate(("amir.b", "bella.c", "amir.b", "chloe.d")):
        sender = f"{name}@{PUPILS}"
        # each pupil adds their own greeting: the body fingerprint is MinHash, not an exact hash
        raw = make_message(f"hi its {name}\n\n{RELAY_BODY}", subject=f"relay {i}", sender=sender, to=friend)
        codes.append((await gw.send(raw, mail_from=sender, rcpt_tos=[friend]))[0])
    assert codes == [250, 250, 250, 250]  # held mail is accepted too (durably in quarantine)
    # the same pupil twice is not bulk: the first three are delivered, the third distinct sender is held
    assert _delivered_subjects(sink) == ["relay 0", "relay 1", "relay 2"]
    [held] = await _held(gw)
    assert held.subject == "relay 3" and "CHAIN_LETTER" in held.codes
    [finding] = [f for f in held.findings if f.code == "CHAIN_LETTER"]
    assert "same text from 3 senders" in finding.reason


async def test_held_pupil_chain_letter_in_roman_urdu_gets_the_kind_notice(review_gateway, sink) -> None:
    gw = await review_gateway(notify=NOTIFY, filters=CHAIN_ONLY, directory=ROLES)
    pupil, friend = f"bilal.a@{PUPILS}", f"hamza.r@{PUPILS}"
    raw = (DATA / "positive" / "virus_warning_roman_urdu.eml").read_bytes()
    raw = raw.replace(b"bilal.a@hillside.sch.uk", pupil.encode()).replace(b"hamza.r@hillside.sch.uk", friend.encode())
    code, _ = await gw.send(raw, mail_from=pupil, rcpt_tos=[friend])
    assert code == 250
    await gw.gateway.notifier.drain()
    [held] = await _held(gw)
    assert "CHAIN_LETTER" in held.codes
    assert _delivered_subjects(sink) == []  # the classmate does not get it
    notices = [email.message_from_bytes(m.data, policy=email.policy.default) for m in sink.messages]
    [notice] = [n for n in notices if n["X-Schoolgate-Notice"]]
    assert notice["To"] == pupil and notice["X-Schoolgate-Notice"] == "sender_student"
    text = " ".join(notice.get_body(("plain",)).get_content().split())  # the template wraps lines
    assert "Nothing bad will happen if you don't pass one on" in text  # the shipped student_notice


async def test_hoax_a_parent_asks_the_school_to_circulate_is_held_over_smtp(review_gateway, sink) -> None:
    gw = await review_gateway(filters=CHAIN_ONLY, directory=ROLES)
    raw = (DATA / "positive" / "parent_asks_school_to_circulate_hoax.eml").read_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    mail_from = parsed["From"].addresses[0].addr_spec
    code, _ = await gw.send(raw, mail_from=mail_from, rcpt_tos=[f"office@{SCHOOL_DOMAIN}"])
    assert code == 250
    [held] = await _held(gw)
    [finding] = [f for f in held.findings if f.code == "CHAIN_LETTER"]
    assert finding.reason.startswith("Looks like a") and "hoax" in finding.reason
    assert _delivered_subjects(sink) == []


LOOK_ALIKES = ["school_it_virus_alert", "safeguarding_alert_parents", "pta_quiz_night_share",
               "newsletter_share_with_friends", "esafety_lesson_chain_letters", "parent_real_police_appeal",
               "it_alert_polish", "police_appeal_roman_urdu",
               # HTML-only (quoted-printable, base64) in Polish, Romanian and Roman Urdu
               "html_newsletter_polish", "html_it_alert_romanian", "html_roman_urdu_charity_iftar",
               # the staff room's own "pass it on": cover notes, a union notice, kindness week, an IT alert
               "staff_pass_it_on_cover", "staff_union_pension_notice", "staff_kindness_week",
               "staff_it_phishing_forward",
               # a Polish parent's real police appeal; a Roman Urdu IT notice about a hoax
               "police_appeal_polish", "it_alert_roman_urdu"]

# HTML-only chains in Polish, Romanian and Roman Urdu, the staff room's chains, and chains
# in those languages under quoted forwards.
CHAINS = ["html_only_polish_luck", "html_only_romanian_account", "html_only_roman_urdu_balance",
          "staff_room_teacher_chain", "staff_room_pension_hoax", "staff_room_polish_prayer",
          "staff_room_pass_it_on",
          # buried under a stack of quoted forwards
          "quoted_stack_romanian_curse", "quoted_stack_polish_curse", "quoted_stack_roman_urdu_luck"]


@pytest.mark.parametrize("name", CHAINS)
async def test_non_english_html_only_and_staff_room_chains_are_held_over_smtp(review_gateway, sink, name) -> None:
    gw = await review_gateway(filters=CHAIN_ONLY, directory=ROLES)
    raw = (DATA / "positive" / f"{name}.eml").read_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    mail_from = parsed["From"].addresses[0].addr_spec
    rcpts = [a.addr_spec for a in parsed["To"].addresses]
    code, _ = await gw.send(raw, mail_from=mail_from, rcpt_tos=rcpts)
    assert code == 250  # accepted: held durably in quarantine, never lost
    [held] = await _held(gw)
    assert "CHAIN_LETTER" in held.codes
    assert _delivered_subjects(sink) == []


@pytest.mark.parametrize("name", LOOK_ALIKES)
async def test_real_warnings_appeals_and_lessons_are_delivered_over_smtp(review_gateway, sink, name) -> None:
    gw = await review_gateway(filters=CHAIN_ONLY, directory=ROLES)
    raw = (DATA / "negative" / f"{name}.eml").read_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    mail_from = parsed["From"].addresses[0].addr_spec
    code, _ = await gw.send(raw, mail_from=mail_from, rcpt_tos=[f"parent.list@{SCHOOL_DOMAIN}"])
    assert code == 250
    assert await _held(gw) == []
    assert _delivered_subjects(sink) == [str(parsed["Subject"])]
