"""`schoolgate directory sync`: from a real OpenLDAP slapd, from Microsoft Graph and Google
Directory (local servers speaking their documented JSON, paging included) and from SIMS/Arbor
exports; --dry-run shows adds/changes/removals; removals wait for the grace period; the synced CSV
is what the filters' Directory reads; a broken source is one clear line and leaves the CSV alone."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from filters.base import Role
from filters.directory import Directory
from gateway.directory_sources import GoogleSource, GraphSource, LdapSource, MisCsvSource
from gateway.directory_sync import DAY, DirectorySyncError, read_current, sync
from tests.cloud_directory import CloudDirectory
from tests.conftest import free_port
from tests.ldap_server import ROOT_DN, ROOT_PW, SUFFIX, Slapd, group, ou, person

ROOT = Path(__file__).resolve().parents[2]
PUPILS = 520  # more than one 500-entry page


def cli(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", "directory", "sync", *args, "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture
def slapd(tmp_path):
    tree = ou("people") + ou("groups")
    staff = [f"uid=t{i},ou=people,{SUFFIX}" for i in range(3)]
    pupils = [f"uid=p{i},ou=people,{SUFFIX}" for i in range(PUPILS)]
    tree += "".join(person(f"t{i}", f"teacher{i}@school.example", f"Teacher Number{i}") for i in range(3))
    tree += "".join(person(f"p{i}", f"pupil{i}@pupils.school.example", f"Pupil Number{i}",
                           departmentNumber=str(7 + i % 5), businessCategory=f"{7 + i % 5}B")
                    for i in range(PUPILS))
    tree += group("Staff", staff) + group("Students", pupils)
    server = Slapd(tmp_path / "slapd").start(tree)
    yield server
    server.stop()


def ldap_config(tmp_path: Path, url: str) -> Path:
    (tmp_path / "bind.pw").write_text(ROOT_PW)
    config = tmp_path / "site.toml"
    config.write_text(f"""
[directory]
csv = "directory.csv"
[directory_sync]
source = "ldap"
ldap_url = "{url}"
ldap_base_dn = "{SUFFIX}"
ldap_bind_dn = "{ROOT_DN}"
ldap_password_file = "bind.pw"
role_groups = {{ "Staff" = "staff", "Students" = "student" }}
ldap_attributes = {{ year = "departmentNumber", form = "businessCategory" }}
""")
    return config


def test_ldap_dry_run_then_sync_then_grace(tmp_path, slapd):
    config = ldap_config(tmp_path, slapd.url)
    dry = cli(config, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"{PUPILS + 3} to add" in dry.stdout and "dry run: nothing written" in dry.stdout
    assert "add pupil7@pupils.school.example (student, year 9)" in dry.stdout
    assert not (tmp_path / "directory.csv").exists()
    done = cli(config, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["people"] == PUPILS + 3
    directory = Directory(tmp_path / "directory.csv")
    assert directory.lookup("teacher1@school.example").role == Role.STAFF
    pupil = directory.lookup("pupil7@pupils.school.example")
    assert pupil.role == Role.STUDENT and pupil.name == "Pupil Number7"
    rows = read_current(tmp_path / "directory.csv")
    assert rows["pupil7@pupils.school.example"].form == "9B"
    # the school moves a pupil up a year and one leaves
    import ldap3
    conn = ldap3.Connection(ldap3.Server(slapd.url), ROOT_DN, ROOT_PW, auto_bind=True)
    conn.modify(f"uid=p3,ou=people,{SUFFIX}", {"departmentNumber": [(ldap3.MODIFY_REPLACE, ["11"])]})
    conn.delete(f"uid=p4,ou=people,{SUFFIX}")
    conn.unbind()
    dry = cli(config, "--dry-run")
    assert "change pupil3@pupils.school.example: year 10 -> 11" in dry.stdout
    assert "keep pupil4@pupils.school.example (student): missing from the source" in dry.stdout
    assert cli(config).returncode == 0
    assert "pupil4@pupils.school.example" in read_current(tmp_path / "directory.csv")  # grace: still there
    source = LdapSource(slapd.url, SUFFIX, ROOT_DN, tmp_path / "bind.pw",
                        role_groups={"Staff": "staff", "Students": "student"},
                        attributes={"year": "departmentNumber"})
    later = sync(source, tmp_path / "directory.csv", grace_days=7, dry_run=False, now=time.time() + 8 * DAY)
    assert [r.email for r in later.removals] == ["pupil4@pupils.school.example"]
    assert "pupil4@pupils.school.example" not in read_current(tmp_path / "directory.csv")


def test_ldap_down_is_one_line_and_the_csv_stays(tmp_path):
    config = ldap_config(tmp_path, f"ldap://127.0.0.1:{free_port()}")
    (tmp_path / "directory.csv").write_text("email,role\nkept@school.example,staff\n")
    result = cli(config)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "LDAP ldap://127.0.0.1" in result.stderr
    assert read_current(tmp_path / "directory.csv").keys() == {"kept@school.example"}


@pytest.fixture
def cloud():
    users = [{"id": f"u{i}", "mail": f"teacher{i}@school.example", "displayName": f"Teacher {i}",
              "otherMails": [f"teacher{i}@gmail.example"] if i == 0 else []} for i in range(3)]
    users += [{"id": f"s{i}", "mail": None, "userPrincipalName": f"pupil{i}@pupils.school.example",
               "displayName": f"Pupil {i}", "department": str(7 + i), "otherMails": []} for i in range(4)]
    google = [{"primaryEmail": f"teacher{i}@school.example", "name": {"fullName": f"Teacher {i}"},
               "orgUnitPath": "/Staff", "emails": [{"address": f"teacher{i}@school.example", "primary": True}]}
              for i in range(2)]
    google += [{"primaryEmail": f"pupil{i}@pupils.school.example", "name": {"fullName": f"Pupil {i}"},
                "orgUnitPath": f"/Students/Year {7 + i}", "organizations": [{"department": str(7 + i)}],
                "emails": [{"address": f"p{i}@home.example", "type": "home"}]} for i in range(3)]
    server = CloudDirectory(graph_users=users, google_users=google,
                            graph_groups={"g1": ("All Staff", ["u0", "u1", "u2"]),
                                          "g2": ("Students", ["s0", "s1", "s2", "s3"]),
                                          "g3": ("Football", ["s0"])}).start()
    yield server
    server.stop()


def test_graph_pages_users_and_groups(tmp_path, cloud):
    (tmp_path / "secret").write_text(cloud.client_secret)
    source = GraphSource(cloud.tenant, cloud.client_id, tmp_path / "secret", authority=cloud.base, graph=cloud.base,
                         year_field="department", role_groups={"All Staff": "staff", "Students": "student"})
    result = sync(source, tmp_path / "d.csv", grace_days=7, dry_run=False)
    rows = read_current(tmp_path / "d.csv")
    assert len(result.adds) == 7 and len(rows) == 7
    assert rows["teacher0@school.example"].personal_emails == ("teacher0@gmail.example",)
    assert rows["pupil2@pupils.school.example"].role == "student" and rows["pupil2@pupils.school.example"].year == "9"
    assert sum("skiptoken" in r for r in cloud.requests) >= 3  # paging was followed
    assert Directory(tmp_path / "d.csv").owner_of_personal("teacher0@gmail.example").email == "teacher0@school.example"


def test_graph_bad_secret_is_a_clear_error(tmp_path, cloud):
    (tmp_path / "secret").write_text("wrong")
    source = GraphSource(cloud.tenant, cloud.client_id, tmp_path / "secret", authority=cloud.base, graph=cloud.base)
    with pytest.raises(DirectorySyncError, match="Microsoft Graph: .* answered 401"):
        sync(source, tmp_path / "d.csv", grace_days=7, dry_run=True)


def test_google_signed_jwt_and_pages(tmp_path, cloud):
    key = tmp_path / "sa.json"
    key.write_text(cloud.service_account_json())
    source = GoogleSource(key, "admin@school.example", api=cloud.base,
                          role_groups={"/Staff": "staff", "/Students": "student"})
    sync(source, tmp_path / "g.csv", grace_days=7, dry_run=False)
    rows = read_current(tmp_path / "g.csv")
    assert {r.role for e, r in rows.items() if e.startswith("pupil")} == {"student"}
    assert rows["pupil1@pupils.school.example"].year == "8"
    assert rows["pupil0@pupils.school.example"].personal_emails == ("p0@home.example",)
    assert any("pageToken=2" in r for r in cloud.requests)


@pytest.mark.parametrize("preset,header,row", [
    ("sims", "Forename,Legal Surname,Year,Reg,Email,Tutor Email",
     "Amira,Khan,Year 8,8R,amira.khan@pupils.school.example,mr.jones@school.example"),
    ("arbor", "First name,Last name,Year group,Registration form,Email address,Tutor email",
     "Amira,Khan,8,8R,amira.khan@pupils.school.example,mr.jones@school.example"),
])
def test_mis_exports(tmp_path, preset, header, row):
    export = tmp_path / "export.csv"
    export.write_text(f"{header}\n{row}\n")
    sync(MisCsvSource(export, preset), tmp_path / "m.csv", grace_days=7, dry_run=False)
    record = read_current(tmp_path / "m.csv")["amira.khan@pupils.school.example"]
    assert (record.role, record.name, record.year, record.form, record.tutor_email) == (
        "student", "Amira Khan", "8", "8R", "mr.jones@school.example")


def test_an_empty_or_unmapped_source_is_refused(tmp_path):
    export = tmp_path / "export.csv"
    export.write_text("Forename,Legal Surname,Year,Reg,Email\n")
    with pytest.raises(DirectorySyncError, match="returned nobody"):
        sync(MisCsvSource(export), tmp_path / "m.csv", grace_days=7, dry_run=False)
    config = tmp_path / "site.toml"
    config.write_text('[directory]\ncsv = "d.csv"\n[directory_sync]\nsource = "ldap"\n')
    result = cli(config)
    assert result.returncode != 0 and "ldap_url" in result.stderr and "Traceback" not in result.stderr


async def test_the_running_gateway_syncs_on_its_schedule(tmp_path, make_gateway):
    import asyncio

    export = tmp_path / "export.csv"
    export.write_text("Forename,Legal Surname,Year,Reg,Email\nAmira,Khan,Year 8,8R,amira@pupils.school.example\n")
    (tmp_path / "directory.csv").write_text("email,role\nhead@school.example,staff\n")  # the first, by hand
    gw = await make_gateway(next_hop=None, directory={"csv": str(tmp_path / "directory.csv")},
                            directory_sync={"source": "mis", "mis_file": str(export), "interval_minutes": 0.005})
    deadline = time.monotonic() + 20
    while "amira@pupils.school.example" not in read_current(tmp_path / "directory.csv"):
        assert time.monotonic() < deadline, "the schedule did not sync"
        await asyncio.sleep(0.1)
    assert read_current(tmp_path / "directory.csv")["amira@pupils.school.example"].year == "8"
    export.write_text("Forename,Legal Surname,Year,Reg,Email\nAmira,Khan,Year 9,9R,amira@pupils.school.example\n")
    while read_current(tmp_path / "directory.csv")["amira@pupils.school.example"].year != "9":
        assert time.monotonic() < deadline + 20, "the schedule did not sync again"
        await asyncio.sleep(0.1)
    assert gw.gateway._sync_task is not None and not gw.gateway._sync_task.done()
