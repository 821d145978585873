"""Issue 21: the school's e-mail policy clause by clause, each over SMTP through a real gateway."""
from __future__ import annotations

import tomllib
from datetime import date

import pytest

from config.loader import DEFAULT_CONFIG
from filters.directory import school_year_start
from tests.factories import SCHOOL_DOMAIN, make_message

PUPILS = f"students.{SCHOOL_DOMAIN}"


def shipped_rules() -> list[dict]:
    with open(DEFAULT_CONFIG, "rb") as handle:
        return tomllib.load(handle)["policy"]["rules"]


def write_csv(tmp_path, rows: str):
    path = tmp_path / "directory.csv"
    path.write_text("email,role,name,personal_email,year,form,tutor_email,group\n" + rows, encoding="utf-8")
    return path


def held_codes(gw) -> list[tuple[str, ...]]:
    return [m.codes for m in gw.store.list_sync()]


# --- clause 1: year groups and classes ---------------------------------------------------------------

async def test_clause1_rules_match_years_from_csv_and_address_pattern(make_gateway, sink, tmp_path):
    csv = write_csv(tmp_path, f"amy@{PUPILS},student,Amy Jones,,Year 7,7A,tutor@{SCHOOL_DOMAIN},\n"
                              f"ben@{PUPILS},student,Ben Cole,,,10C,,sixth_form\n")
    # Year 7 pupils' mild language is held; everyone else's is tagged (the shipped rule)
    rules = [{"category": "profanity", "years": [7], "action": "hold"},
             {"category": "profanity", "groups": ["sixth_form"], "action": "pass"}, *shipped_rules()]
    gw = await make_gateway(next_hop=sink.address, filters={"chain": ["offensive"]},
                            offensive={"model": False}, policy={"rules": rules},
                            directory={"csv": str(csv), "domain_roles": {PUPILS: "student"},
                                       "year_pattern": "{yy}{initial}{surname}@" + PUPILS})
    body = "That quiz was damn hard, see you on Monday."
    # addresses carrying the year of entry: this school year's Year 7, and a Year 11
    start = school_year_start(date.today()) % 100
    year7, year11 = f"{start:02d}cdavies@{PUPILS}", f"{start - 4:02d}eevans@{PUPILS}"
    for sender in (f"amy@{PUPILS}", year7, year11, f"ben@{PUPILS}"):
        code, text = await gw.send(make_message(body, sender=sender, to="friend@example.org"), sender,
                                   ["friend@example.org"])
        assert code == 250, text
    delivered = {m.mail_from: m.data for m in sink.messages}
    held = {m.mail_from for m in gw.store.list_sync()}
    # the year 7 from the CSV and the year 7 from the address (entered Sept 2026) are held
    assert f"amy@{PUPILS}" in held and year7 in held
    # Year 11 by address: tagged; the sixth-form group: passed untagged
    assert b"OFFENSIVE_PROFANITY_MILD" in delivered[year11]
    assert b"X-Schoolgate-Findings" not in delivered[f"ben@{PUPILS}"]


# --- clause 3: rate limits -----------------------------------------------------------------------------

def _pupil_msg(n: int, sender: str, to: str) -> bytes:
    return make_message(f"Message number {n} about the weekend.", subject=f"hi {n}", sender=sender, to=to)


async def test_clause3_hourly_limit_tempfails_with_reason_and_notices_pupil_once(make_gateway, sink, tmp_path):
    csv = write_csv(tmp_path, f"amy@{PUPILS},student,Amy Jones,,7,7A,,\nzed@{PUPILS},student,Zed,,11,11A,,\n")
    gw = await make_gateway(next_hop=sink.address, filters={"chain": ["rate_limit"]},
                            rate_limit={"per_hour": 10, "per_day": 100, "by_year": {"7": {"per_hour": 2}}},
                            notify={"from_address": f"schoolgate@{SCHOOL_DOMAIN}"},
                            directory={"csv": str(csv), "domain_roles": {PUPILS: "student"}})
    amy = f"amy@{PUPILS}"
    replies = [await gw.send(_pupil_msg(n, amy, "pal@example.org"), amy, ["pal@example.org"]) for n in range(4)]
    assert [code for code, _ in replies] == [250, 250, 451, 451]
    code, text = replies[2]
    assert b"4.7.1" in text and b"last hour" in text and b"allows 2" in text
    # a retry of the refused message is the same message: still refused, not counted twice
    assert (await gw.send(_pupil_msg(2, amy, "pal@example.org"), amy, ["pal@example.org"]))[0] == 451
    # mail inside the school is not counted; a Year 11 has the school-wide limit
    assert (await gw.send(_pupil_msg(9, amy, f"teacher@{SCHOOL_DOMAIN}"), amy, [f"teacher@{SCHOOL_DOMAIN}"]))[0] == 250
    zed = f"zed@{PUPILS}"
    assert [(await gw.send(_pupil_msg(n, zed, "pal@example.org"), zed, ["pal@example.org"]))[0]
            for n in range(3)] == [250, 250, 250]
    await gw.gateway.notifier.drain()
    notices = [m for m in sink.messages if b"X-Schoolgate-Notice: rate_limit" in m.data]
    assert len(notices) == 1 and notices[0].rcpt_tos == [amy]  # the pupil, once, on the first excess
    delivered_to_pal = [m for m in sink.messages if m.rcpt_tos == ["pal@example.org"]]
    assert len(delivered_to_pal) == 5  # Amy's two, Zed's three


async def test_clause3_recipients_per_message_and_hold_per_config(make_gateway, sink, tmp_path):
    csv = write_csv(tmp_path, f"amy@{PUPILS},student,Amy Jones,,9,9A,,\n")
    rules = [{"category": "rate_limit", "action": "hold"}, *shipped_rules()]
    gw = await make_gateway(next_hop=sink.address, filters={"chain": ["rate_limit"]},
                            rate_limit={"max_recipients": 3}, policy={"rules": rules},
                            directory={"csv": str(csv), "domain_roles": {PUPILS: "student"}})
    amy = f"amy@{PUPILS}"
    many = [f"p{i}@example.org" for i in range(4)]
    code, text = await gw.send(_pupil_msg(1, amy, ", ".join(many)), amy, many)
    assert code == 250, text
    [held] = gw.store.list_sync()
    assert "RATE_LIMIT_RECIPIENTS" in held.codes and sorted(held.recipients) == many
    # staff are not limited
    code, _ = await gw.send(_pupil_msg(2, f"head@{SCHOOL_DOMAIN}", ", ".join(many)), f"head@{SCHOOL_DOMAIN}", many)
    assert code == 250 and len(gw.store.list_sync()) == 1
