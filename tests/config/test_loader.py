"""The loader: every problem in one ConfigError naming file and key; --data-dir only fills an unset path."""
from __future__ import annotations

from pathlib import Path

import pytest

from config.loader import ConfigError, load_settings, store_location
from filters.base import Action, Severity
from filters.errors import SchoolgateError


def write(tmp_path: Path, text: str, name: str = "site.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, **kwargs)
    assert isinstance(info.value, SchoolgateError)
    return info.value.problems


def test_every_problem_is_reported_in_one_run(tmp_path):
    site = write(tmp_path, """
[gateway]
next_hop = "mailserver"
max_recipients = 0
[notify]
dsl_addresses = ["not an email"]
[[policy.rules]]
category = "virus"
action = "drop"
[attachments]
archive_depth = "deep"
[telepathy]
x = 1
""")
    found = problems(site)
    assert len(found) == 6, found
    assert all(line.startswith(f"{site}: ") for line in found)
    for key in ("[gateway] next_hop", "[gateway] max_recipients", "[notify] dsl_addresses",
                "[policy] rules[0].action", "[attachments] archive_depth", "[telepathy]: unknown section"):
        assert any(key in line for line in found), (key, found)


@pytest.mark.parametrize("section,key,value", [
    ("notify", "dsl_addresses", '["not an email"]'),
    ("notify", "deputy_dsl_addresses", '["dsl@"]'),
    ("notify", "reviewer_addresses", '["@school.sch.uk"]'),
    ("notify", "from_address", '"schoolgate"'),
    ("reports", "recipients", '["head at school"]'),
    ("reports", "from_address", '"reports@@school.sch.uk"'),
    ("school", "reporting_addresses", '["worried <box"]'),
    ("school", "domains", '["head@school.sch.uk"]'),
])
def test_addresses_are_checked_with_the_key_named(tmp_path, section, key, value):
    found = problems(write(tmp_path, f"[{section}]\n{key} = {value}\n"))
    assert len(found) == 1 and f"[{section}] {key}" in found[0], found


def test_extra_report_recipients_are_checked(tmp_path):
    found = problems(write(tmp_path, '[[reports.extra]]\nname = "governors"\nschedule = "termly"\n'
                                     'recipients = ["governors"]\n'))
    assert "[reports] extra[0].recipients" in found[0] and "'governors'" in found[0]


def test_good_addresses_pass(tmp_path):
    settings = load_settings(write(tmp_path, '[notify]\ndsl_addresses = ["dsl@school.sch.uk", "Ünïcode@例え.jp"]\n'
                                             'from_address = "schoolgate@school.sch.uk"\n'))
    assert settings.notify.dsl_addresses == ["dsl@school.sch.uk", "Ünïcode@例え.jp"]


@pytest.mark.parametrize("text,key,words", [
    ('[[policy.rules]]\ncode = "X"\naction = "drop"\n', "[policy] rules[0].action", "unknown action 'drop'"),
    ('[[policy.rules]]\ncode = "X"\naction = "hold"\nmin_severity = "huge"\n', "[policy] rules[0].min_severity",
     "unknown severity 'huge'"),
    ('[policy.default_actions]\nhigh = "pass"\n', "[policy] default_actions", 'high must not be "pass"'),
    ('[policy.default_actions]\ncritical = "pass"\n', "[policy] default_actions", 'critical must not be "pass"'),
    ('[policy.default_actions]\nmedium = "bin"\n', "[policy] default_actions", "unknown action 'bin'"),
])
def test_actions_and_severities_are_words_we_know(tmp_path, text, key, words):
    found = problems(write(tmp_path, text))
    assert len(found) == 1 and key in found[0] and words in found[0], found


def test_low_and_medium_may_pass(tmp_path):
    settings = load_settings(write(tmp_path, '[policy.default_actions]\nlow = "pass"\nmedium = "pass"\n'))
    assert settings.policy.default_actions[Severity.LOW] == Action.PASS
    assert settings.policy.default_actions[Severity.HIGH] == Action.HOLD


@pytest.mark.parametrize("csv,expected", [
    (None, ["people.csv: file not found"]),
    ("mail,kind\nx@school.sch.uk,staff\n", ["people.csv: line 1: missing column(s) email, role"]),
    ("email,role,name\na@school.sch.uk,staff,A\nb@school.sch.uk,teacher,B\nc@school.sch.uk,pupil,C\n",
     ["people.csv: line 3: role must be staff or student, not 'teacher'",
      "people.csv: line 4: role must be staff or student, not 'pupil'"]),
])
def test_directory_csv_is_read_when_asked(tmp_path, csv, expected):
    if csv is not None:
        (tmp_path / "people.csv").write_text(csv, encoding="utf-8")
    site = write(tmp_path, '[directory]\ncsv = "people.csv"\n')
    load_settings(site)  # commands that do not need the people (quarantine list) still load
    found = problems(site, check_files=True)
    assert len(found) == len(expected)
    for line, words in zip(found, expected):
        assert line.startswith(f"{site}: [directory] csv: ") and words in line, found


def test_csv_problems_come_with_schema_problems(tmp_path):
    site = write(tmp_path, '[directory]\ncsv = "missing.csv"\n[gateway]\nlisten = "nowhere"\n')
    found = problems(site, check_files=True)
    assert any("[gateway] listen" in line for line in found) and any("missing.csv" in line for line in found)


def test_each_line_names_where_the_bad_value_came_from(tmp_path):
    site = write(tmp_path, '[gateway]\nmax_connections = 0\n')
    found = problems(site, overrides={"gateway": {"workers": 0}})  # a flag such as --listen
    assert f"{site}: [gateway] max_connections: Input should be greater than 0" in found
    assert any(line.startswith("command line: [gateway] workers") for line in found)


def test_data_dir_fills_in_only_when_the_site_sets_no_path(tmp_path):
    elsewhere = {"quarantine": {"path": str(tmp_path / "elsewhere" / "quarantine")}}
    with_path = write(tmp_path, '[quarantine]\npath = "store"\n', "with.toml")
    without = write(tmp_path, '[school]\nname = "Hillside"\n', "without.toml")
    assert load_settings(with_path, fallbacks=elsewhere).quarantine.path == (tmp_path / "store").resolve()
    assert load_settings(without, fallbacks=elsewhere).quarantine.path == tmp_path / "elsewhere" / "quarantine"
    assert load_settings(without).quarantine.path == (tmp_path / "data" / "quarantine").resolve()


def test_store_location_hides_a_database_password(tmp_path):
    settings = load_settings(write(tmp_path, '[quarantine]\npath = "q"\n'
                                             'database_url = "postgresql://gate:s3cret@db.local/schoolgate"\n'))
    assert "s3cret" not in store_location(settings)
    assert "db.local/schoolgate" in store_location(settings) and str(tmp_path / "q") in store_location(settings)


def test_config_show_hides_a_database_password(tmp_path):
    import json
    import subprocess
    import sys

    site = write(tmp_path, '[quarantine]\npath = "q"\ndatabase_url = "postgresql://gate:s3cret@db.local/schoolgate"\n')
    shown = subprocess.run([sys.executable, "-m", "gateway.cli", "config", "show", "--config", str(site)],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "s3cret" not in shown.stdout
    assert json.loads(shown.stdout)["quarantine"]["database_url"] == "postgresql://***@db.local/schoolgate"


def test_workers_default_to_the_number_of_cores():
    """issue 19: one worker per core unless the site says otherwise."""
    import os
    from config.loader import load_settings
    assert load_settings().gateway.workers == (os.cpu_count() or 1)
    assert load_settings(overrides={"gateway": {"workers": 1}}).gateway.workers == 1
