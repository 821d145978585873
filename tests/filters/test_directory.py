"""The directory: roles from the CSV, domain fallback, reload on change, bad files named."""
from __future__ import annotations

import os
import time

import pytest

from filters.base import Role
from filters.directory import Directory, DirectoryError
from tests.factories import write_directory


def test_roles_names_personal_addresses_and_domain_fallback(tmp_path):
    csv = write_directory(tmp_path / "d.csv", [
        ("Jane.Smith@school.sch.uk", "staff", "Jane Smith", "janesmith84@gmail.com;j.smith@btinternet.com"),
        ("sam@pupils.school.sch.uk", "student", "Sam Brown", "")])
    d = Directory(csv, {"pupils.school.sch.uk": "student", "school.sch.uk": "staff"}, ("school.sch.uk",))
    assert d.role_of("<jane.smith@SCHOOL.sch.uk>") == Role.STAFF
    assert d.name_of("jane.smith@school.sch.uk") == "Jane Smith"
    assert d.owner_of_personal("J.Smith@btinternet.com").email == "jane.smith@school.sch.uk"
    assert d.role_of("new.pupil@pupils.school.sch.uk") == Role.STUDENT  # most specific domain wins
    assert d.role_of("new.teacher@school.sch.uk") == Role.STAFF
    assert d.role_of("parent@gmail.com") == Role.EXTERNAL
    assert d.is_school_address("x@pupils.school.sch.uk") and not d.is_school_address("x@notschool.sch.uk")


def test_reload_when_file_changes(tmp_path):
    csv = write_directory(tmp_path / "d.csv", [("a@school.sch.uk", "staff", "A", "")])
    d = Directory(csv, {}, ("school.sch.uk",), recheck_seconds=0)
    assert d.role_of("b@school.sch.uk") == Role.EXTERNAL
    write_directory(csv, [("a@school.sch.uk", "staff", "A", ""), ("b@school.sch.uk", "student", "B", "")])
    os.utime(csv, (time.time() + 5, time.time() + 5))
    assert d.role_of("b@school.sch.uk") == Role.STUDENT


def test_bad_reload_keeps_last_good_copy(tmp_path):
    csv = write_directory(tmp_path / "d.csv", [("a@school.sch.uk", "staff", "A", "")])
    d = Directory(csv, {}, ("school.sch.uk",), recheck_seconds=0)
    csv.write_text("email,role\na@school.sch.uk,headteacher\n")
    os.utime(csv, (time.time() + 5, time.time() + 5))
    assert d.role_of("a@school.sch.uk") == Role.STAFF


@pytest.mark.parametrize("content,message", [
    ("mail,kind\n", "missing column"),
    ("email,role\nx@y.z,teacher\n", "line 2: role must be staff or student"),
])
def test_bad_file_is_named(tmp_path, content, message):
    csv = tmp_path / "d.csv"
    csv.write_text(content)
    with pytest.raises(DirectoryError) as info:
        Directory(csv)
    assert str(csv) in str(info.value) and message in str(info.value)


def test_check_reports_every_bad_line_and_reads_headers_in_any_case(tmp_path):
    from filters.directory import check_directory_csv

    csv = tmp_path / "d.csv"
    csv.write_text(" Email ,ROLE,Name\na@school.sch.uk,staff,A\nb@school.sch.uk,teacher,B\n,,\n"
                   "c@school.sch.uk,Student,C\nd@school.sch.uk,,D\n", encoding="utf-8")
    assert check_directory_csv(csv) == [f"{csv}: line 3: role must be staff or student, not 'teacher'",
                                        f"{csv}: line 6: role must be staff or student, not ''"]
    with pytest.raises(DirectoryError, match=r"line 3: .* \(and 1 more\)"):
        Directory(csv)
    csv.write_text("Email,Role\nc@school.sch.uk,Student\n", encoding="utf-8")
    assert check_directory_csv(csv) == [] and Directory(csv).role_of("c@school.sch.uk") == Role.STUDENT


def test_check_names_a_missing_or_unreadable_file(tmp_path):
    from filters.directory import check_directory_csv

    assert check_directory_csv(tmp_path / "none.csv") == [f"{tmp_path / 'none.csv'}: file not found"]
    (tmp_path / "bin.csv").write_bytes(b"email,role\n\xff\xfe\x00bad")
    [line] = check_directory_csv(tmp_path / "bin.csv")
    assert line.startswith(f"{tmp_path / 'bin.csv'}: not a readable CSV")
    assert check_directory_csv(tmp_path) == [f"{tmp_path}: cannot read directory: Is a directory"]


# --- issue 21 clause 1: year groups, forms, tutors, sets -----------------------------------------
from datetime import date  # noqa: E402

from filters.directory import YearRule, compile_year_pattern, parse_year, school_year_start  # noqa: E402


def _csv(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_year_form_tutor_and_groups_columns(tmp_path):
    csv = _csv(tmp_path / "d.csv", "email,role,name,personal_email,year,form,tutor_email,group\n"
               "sam@pupils.school.sch.uk,student,Sam,,Year 9,9B,Mr.Tutor@school.sch.uk,sixth_form;Choir\n"
               "amy@pupils.school.sch.uk,student,Amy,,Y7,7A,,\n")
    d = Directory(csv, {}, ("school.sch.uk",))
    assert d.year_of("sam@pupils.school.sch.uk") == 9
    assert d.tutor_of("sam@pupils.school.sch.uk") == "mr.tutor@school.sch.uk"
    assert d.groups_of("sam@pupils.school.sch.uk") == ("sixth_form", "choir", "9b")
    assert d.year_of("amy@pupils.school.sch.uk") == 7
    assert d.year_of("nobody@pupils.school.sch.uk") is None


def test_bad_year_cell_is_named_by_line(tmp_path):
    from filters.directory import check_directory_csv
    csv = _csv(tmp_path / "d.csv", "email,role,year\na@school.sch.uk,student,Year Twelve\n")
    [problem] = check_directory_csv(csv)
    assert "line 2" in problem and "year must be a year group" in problem


@pytest.mark.parametrize("text,year", [("7", 7), ("Y11", 11), ("year 13", 13), ("R", 0), ("", None)])
def test_parse_year(text, year):
    assert parse_year(text) == year


@pytest.mark.parametrize("today,start", [(date(2026, 8, 31), 2025), (date(2026, 9, 1), 2026),
                                         (date(2027, 1, 5), 2026)])
def test_school_year_rolls_over_on_1_september(today, start):
    assert school_year_start(today) == start


def test_year_from_address_pattern_rolls_over(tmp_path):
    rule = YearRule(compile_year_pattern("{yy}{initial}{surname}@students.school.sch.uk"), 7)
    today = [date(2026, 8, 31)]
    d = Directory(None, {"students.school.sch.uk": "student"}, ("school.sch.uk",), year_rule=rule,
                  today=lambda: today[0])
    assert d.year_of("24jsmith@students.school.sch.uk") == 8  # started Sept 2024: Year 8 in 2025-26
    today[0] = date(2026, 9, 1)
    assert d.year_of("24jsmith@students.school.sch.uk") == 9
    assert d.year_of("jsmith@students.school.sch.uk") is None  # no year in the address
    assert d.year_of("09jsmith@students.school.sch.uk") is None  # a leaver
    assert d.year_of("24jsmith@school.sch.uk") is None  # staff domain: not a pupil


def test_bad_year_pattern_is_a_config_error(tmp_path):
    from config.loader import ConfigError
    from tests.factories import make_settings
    with pytest.raises(ConfigError) as info:
        make_settings(tmp_path, directory={"year_pattern": "{surname}@students.school.sch.uk"})
    assert "[directory] year_pattern" in str(info.value) and "{yy}" in str(info.value)
@pytest.mark.parametrize("address", [
    "a@b.c", "<A.B@C.D>", "a..b@c.d", ".a@b.c", "a.@b.c", "a@b", "<a@b.c", "a@b.c>", "O'Brien@x.org",
    "a+tag@x.co.uk", "user%other@x", "host!user@x", "a@-x.com", "a@x..com", "a=b@x", "{a}@x", "~@x",
    "a@[1.2.3.4]", "", "<>", "a", "a@", "Lily <lily@x.org>", '"a b"@x', "a@x.", "a@.x", "ÄÖ@x.de",
    "a@ex_ample.com", "a#b@x", "a`b@x", "a/b@x", "a|b@x", "(comment) a@x", "a@x (comment)"])
def test_plain_address_fast_path_agrees_with_parseaddr(address: str) -> None:
    """issue 19: plain addresses skip parseaddr; the answer must be parseaddr's."""
    from email.utils import parseaddr
    from filters.directory import normalise_address
    _, addr = parseaddr(address)
    assert normalise_address(address) == (addr or address).strip().strip("<>").lower()


# -- address_list: getaddresses without the parser for plain addresses (issue 19) -----------

@pytest.mark.parametrize("values", [
    [], ["parent.of.ava@gmail.com"], ["a@b", "o'neil+x@mail.example.co.uk"], ["J.Smith@School.sch.uk"],
    ["a@b.com, c@d.com"], ["Jane <jane@x.com>"], ["<jane@x.com>"], [" jane@x.com"], ["jane@x.com "],
    ["a..b@x.com"], ["a@x..com"], ['"a b"@x.com'], ["a@[192.0.2.1]"], ["a@x.com (home)"], ["a@x.com;"],
    ["undisclosed-recipients:;"], ["a@x.com", "Bob <b@y.com>"], ["a@x.com", ""], [""], ["é@x.com"],
    ["a@x-.com"], ["-a@x.com"], ["a@x.com\n"], ["a@x.com,"], ["#!$%&*+/=?^_`{|}~-@x.com"],
])
def test_address_list_equals_getaddresses(values):
    from email.utils import getaddresses

    from filters.directory import address_list
    assert address_list(values) == getaddresses(values)


def test_address_list_equals_getaddresses_on_the_corpora():
    from email.utils import getaddresses

    from filters.directory import address_list
    from filters.message import parse_message
    from tests.filters.test_corpus_parse import corpus_messages, needs_corpora
    needs_corpora()
    checked = plain = 0
    for name, raw in corpus_messages():
        message, _ = parse_message(raw)
        if message is None:
            continue
        try:
            values = [str(v) for k, v in message.items() if k.lower() in ("to", "cc")]
        except Exception:  # an unreadable header: not this test's business
            continue
        assert address_list(values) == getaddresses(values), name
        checked += 1
        plain += all("<" not in v and "," not in v for v in values) and bool(values)
    assert checked > 2000 and plain > 100
