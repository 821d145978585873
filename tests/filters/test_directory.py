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
