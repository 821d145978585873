"""filters/tenancy.py: which school of a trust owns each copy, and `config check` on [[schools]]."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from config.loader import ConfigError, load_settings
from filters.tenancy import NO_SCHOOL, Tenancy

ROOT = Path(__file__).resolve().parents[2]
TRUST = ROOT / "tests" / "data" / "trust" / "riverside.toml"


@pytest.fixture(scope="module")
def trust():
    return Tenancy.from_settings(load_settings(TRUST))


def test_the_example_trust_loads_and_the_filters_see_one_organisation():
    settings = load_settings(TRUST)
    assert [s.id for s in settings.schools] == ["hillside", "valley", "oak"]
    # every school's domains are "the school" to routes, the directory and the filters
    assert settings.school.domains == ["hillside.sch.uk", "valley.sch.uk", "pupils.valley.sch.uk", "oakpark.sch.uk"]
    assert "worried@hillside.sch.uk" in settings.school.reporting_addresses
    assert settings.school.name == "Riverside Learning Trust"


@pytest.mark.parametrize("sender, internal, rcpt, owners", [
    ("parent@example.com", False, "pupil@hillside.sch.uk", ("hillside",)),  # inbound: the recipient's
    ("head@valley.sch.uk", True, "parent@example.com", ("valley",)),  # outbound: the sender's
    ("head@hillside.sch.uk", True, "teacher@oakpark.sch.uk", ("oak", "hillside")),  # between two: each
    ("a@hillside.sch.uk", True, "b@hillside.sch.uk", ("hillside",)),  # internal to one school
    ("x@pupils.valley.sch.uk", True, "parent@example.com", ("valley",)),  # a subdomain
    # a school address typed by an outside client is not that school's mail going out
    ("head@valley.sch.uk", False, "parent@example.com", (NO_SCHOOL,)),
    ("a@example.com", True, "b@example.net", (NO_SCHOOL,)),  # a trusted relay between outsiders
])
def test_owners(trust, sender, internal, rcpt, owners):
    assert trust.owners(sender, internal, rcpt) == owners


def test_groups_split_recipients_by_school(trust):
    groups = trust.groups("parent@example.com", False,
                          ["a@hillside.sch.uk", "b@valley.sch.uk", "c@hillside.sch.uk", "d@oakpark.sch.uk"])
    assert [(g.school, g.recipients, g.owners) for g in groups] == [
        ("hillside", ("a@hillside.sch.uk", "c@hillside.sch.uk"), ("hillside",)),
        ("valley", ("b@valley.sch.uk",), ("valley",)),
        ("oak", ("d@oakpark.sch.uk",), ("oak",))]
    out = trust.groups("head@valley.sch.uk", True, ["parent@example.com", "t@hillside.sch.uk"])
    assert [(g.school, g.recipients, g.owners) for g in out] == [
        ("valley", ("parent@example.com",), ("valley",)),
        ("hillside", ("t@hillside.sch.uk",), ("hillside", "valley"))]


def test_a_single_school_config_is_one_implicit_school(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text('[school]\nname = "Hillside"\ndomains = ["hillside.sch.uk"]\n')
    one = Tenancy.from_settings(load_settings(site))
    assert not one.is_trust and one.ids == ("school",)
    assert one.owners("x@example.com", False, "anyone@anywhere.example") == ("school",)
    assert [g.school for g in one.groups("x@example.com", False, ["a@hillside.sch.uk", "b@else.example"])] == [
        "school"]


def _check(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", "config", "check", "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_config_check_names_both_schools_and_the_file_one_line_each(tmp_path):
    site = tmp_path / "trust.toml"
    site.write_text(TRUST.read_text().replace('domains = ["oakpark.sch.uk"]',
                                              'domains = ["oakpark.sch.uk", "valley.sch.uk"]')
                    + '\n[[schools]]\nid = "oak"\nname = "Oak Two"\ndomains = ["oak2.sch.uk"]\n'
                    + '\n[[schools]]\nid = "elm"\nname = "Elm"\ndomains = ["hillside.sch.uk"]\n')
    with pytest.raises(ConfigError) as info:
        load_settings(site)
    lines = info.value.problems
    assert lines == [
        f"{site}: [schools][2].domains: domain 'valley.sch.uk' is in school 'valley' ([schools][1]) and "
        f"school 'oak' ([schools][2]); a domain belongs to one school",
        f"{site}: [schools][3].id: school id 'oak' is also [schools][2]'s; each school needs its own id",
        f"{site}: [schools][4].domains: domain 'hillside.sch.uk' is in school 'hillside' ([schools][0]) and "
        f"school 'elm' ([schools][4]); a domain belongs to one school"]
    result = _check(site)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    # one line per problem, each naming the file, the key and both schools
    assert result.stderr.splitlines() == [f"schoolgate: configuration error: {line}" for line in lines]


@pytest.mark.parametrize("entry, problem", [
    ('id = "Hill Side"\nname = "x"\ndomains = ["a.sch.uk"]', "[schools][0].id: school id 'Hill Side'"),
    ('id = "a"\nname = "x"\ndomains = []', "[schools][0].domains: List should have at least 1 item"),
    ('id = "a"\nname = "x"\ndomains = ["a.sch.uk"]\ndsl_addresses = ["not an address"]',
     "[schools][0].dsl_addresses: not an e-mail address: 'not an address'"),
    ('id = "a"\nname = "x"\ndomains = ["a.sch.uk"]\ncolour = "red"', "[schools][0].colour: unknown key"),
])
def test_bad_school_entries_are_one_line_naming_the_key(tmp_path, entry, problem):
    site = tmp_path / "site.toml"
    site.write_text(f"[[schools]]\n{entry}\n")
    with pytest.raises(ConfigError) as info:
        load_settings(site)
    assert any(p.startswith(f"{site}: {problem}") for p in info.value.problems), info.value.problems


def test_sso_school_groups_must_name_a_school(tmp_path):
    site = tmp_path / "site.toml"
    site.write_text(TRUST.read_text() + '\n[[web.sso]]\nname = "entra"\nissuer = "https://login.example/v2.0"\n'
                    'client_id = "c"\nschool_groups = { "Staff-Hill" = "hillside", "Staff-Elm" = "elm" }\n')
    with pytest.raises(ConfigError) as info:
        load_settings(site)
    [line] = info.value.problems
    assert line.startswith(f"{site}: [web] sso[0].school_groups.Staff-Elm: no school 'elm' in [[schools]]")


def test_config_check_passes_the_example(tmp_path):
    site = tmp_path / "trust.toml"
    site.write_text(TRUST.read_text() + f'\n[quarantine]\npath = "{tmp_path / "q"}"\n'
                    '[filters]\nchain = ["attachments"]\n')
    result = _check(site)
    assert "ok   [[schools]] 3 schools, no domain in two: hillside, valley, oak" in result.stdout, \
        result.stdout + result.stderr


def _trust_with_directories(tmp_path: Path, valley_csv: str) -> Path:
    (tmp_path / "trust.csv").write_text("email,role,name,personal_email\nceo@riverside.org.uk,staff,The CEO,\n")
    (tmp_path / "hill.csv").write_text("email,role,name,personal_email,year\n"
                                       "amy@hillside.sch.uk,student,Amy Ash,amy@gmail.example,8\n")
    (tmp_path / "valley.csv").write_text(valley_csv)
    text = TRUST.read_text().replace('head_addresses = ["head@hillside.sch.uk"]',
                                     'head_addresses = ["head@hillside.sch.uk"]\ndirectory = "hill.csv"')
    text = text.replace('head_addresses = ["head@valley.sch.uk"]',
                        'head_addresses = ["head@valley.sch.uk"]\ndirectory = "valley.csv"')
    site = tmp_path / "trust.toml"
    site.write_text(text + '\n[directory]\ncsv = "trust.csv"\n')
    return site


def test_each_schools_directory_is_read_with_the_trusts_as_one(tmp_path):
    import os

    from filters.directory import Role
    from filters.scanner import make_directory

    site = _trust_with_directories(tmp_path, "email,role,name,personal_email\nben@valley.sch.uk,student,Ben Birch,\n")
    settings = load_settings(site, check_files=True)
    directory = make_directory(settings)
    assert directory.lookup("amy@hillside.sch.uk").name == "Amy Ash"
    assert directory.year_of("amy@hillside.sch.uk") == 8
    assert directory.owner_of_personal("amy@gmail.example").email == "amy@hillside.sch.uk"
    assert directory.role_of("ben@valley.sch.uk") == Role.STUDENT
    assert directory.lookup("ceo@riverside.org.uk").role == Role.STAFF
    # a school's file changes: read again, the others kept
    valley = tmp_path / "valley.csv"
    valley.write_text("email,role,name,personal_email\ncara@valley.sch.uk,staff,Cara Cedar,\n")
    os.utime(valley, (os.stat(valley).st_atime, os.stat(valley).st_mtime + 5))
    directory._checked_at = 0.0  # past the recheck interval
    assert directory.lookup("cara@valley.sch.uk").name == "Cara Cedar"
    assert directory.lookup("ben@valley.sch.uk") is None and directory.lookup("amy@hillside.sch.uk") is not None


def test_a_bad_line_in_a_schools_directory_names_the_school_key_file_and_line(tmp_path):
    site = _trust_with_directories(tmp_path, "email,role,name,personal_email\nben@valley.sch.uk,teacher,Ben,\n")
    with pytest.raises(ConfigError) as info:
        load_settings(site, check_files=True)
    [line] = info.value.problems
    assert line == (f"{site}: [schools][1].directory: {tmp_path / 'valley.csv'}: line 2: role must be staff or "
                    f"student, not 'teacher'")


def test_a_schools_policy_rules_apply_to_its_own_copies_only():
    from filters.base import Action, Category, Finding, Severity
    from filters.message import Envelope, build_view
    from filters.policy import Policy
    from filters.scanner import make_directory

    settings = load_settings(TRUST)  # Valley: [[schools.policy]] profanity -> hold
    policy = Policy(settings)
    raw = b"From: parent@example.com\r\nSubject: hi\r\n\r\ndamn\r\n"
    view = build_view(raw, Envelope("parent@example.com", ("pupil@hillside.sch.uk", "pupil@valley.sch.uk"),
                                    client_trusted=False), make_directory(settings))
    finding = Finding("PROFANITY_MILD", "offensive", Category.PROFANITY, Severity.LOW, ("damn",), "mild")
    hill, valley = view.recipients
    hill_action, _ = policy.action_for(finding, view, hill)
    valley_action, _ = policy.action_for(finding, view, valley)
    assert valley_action == Action.HOLD
    assert hill_action < Action.HOLD  # the trust's own rules (or defaults) for Hillside's copy
    # a Valley teacher writing out: Valley's copy (the sender's school), so Valley's rule
    out = build_view(raw, Envelope("teacher@valley.sch.uk", ("parent@example.com",)), make_directory(settings))
    assert policy.action_for(finding, out, out.recipients[0])[0] == Action.HOLD


def test_a_domain_left_in_school_with_schools_is_a_problem(tmp_path):
    site = tmp_path / "trust.toml"
    site.write_text(TRUST.read_text().replace('domains = []', 'domains = ["old.sch.uk"]', 1))
    with pytest.raises(ConfigError) as info:
        load_settings(site)
    assert info.value.problems == [f"{site}: [school] domains: domain 'old.sch.uk' is in no [[schools]] entry: its "
                                   f"mail would belong to no school; move it to its school's domains"]
