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
