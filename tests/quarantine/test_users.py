"""Local accounts: argon2 hashes, roles and permissions, and the `schoolgate user` commands."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from quarantine.store import QuarantineStore
from quarantine.users import PERMISSIONS, Permission, Role, User, UserError, UserStore

FAST = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
PASSWORD = "correct horse battery staple"


@pytest.fixture
def accounts(tmp_path):
    store = QuarantineStore(tmp_path / "q").open_sync()
    yield UserStore(store.engine, FAST)
    store.close_sync()


def test_password_is_stored_as_argon2id_and_verifies(accounts):
    accounts.add("kim", "dsl", PASSWORD, email="kim@school.sch.uk")
    with accounts._engine.begin() as conn:
        stored = conn.exec_driver_sql("select password_hash from users where name='kim'").scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert accounts.authenticate("kim", PASSWORD) == User("kim", Role.DSL, "kim@school.sch.uk")


@pytest.mark.parametrize("name,password", [
    ("kim", "wrong password"),
    ("nobody", PASSWORD),
    ("kim", ""),
])
def test_wrong_password_or_unknown_name_fails(accounts, name, password):
    accounts.add("kim", "reviewer", PASSWORD)
    assert accounts.authenticate(name, password) is None


def test_disable_and_passwd(accounts):
    accounts.add("kim", "reviewer", PASSWORD)
    accounts.set_password("kim", "another long password")
    assert accounts.authenticate("kim", PASSWORD) is None
    assert accounts.authenticate("kim", "another long password") is not None
    accounts.set_disabled("kim")
    assert accounts.authenticate("kim", "another long password") is None
    assert accounts.get("kim").disabled


@pytest.mark.parametrize("name,role,password,message", [
    ("kim", "janitor", PASSWORD, "role"),
    ("kim smith", "dsl", PASSWORD, "user name"),
    ("kim", "dsl", "short", "at least"),
])
def test_bad_input_is_refused(accounts, name, role, password, message):
    with pytest.raises(UserError, match=message):
        accounts.add(name, role, password)


def test_duplicate_and_unknown_users(accounts):
    accounts.add("kim", "dsl", PASSWORD)
    with pytest.raises(UserError, match="already exists"):
        accounts.add("kim", "dsl", PASSWORD)
    with pytest.raises(UserError, match="no user"):
        accounts.set_password("lee", PASSWORD)
    with pytest.raises(UserError, match="no user"):
        accounts.set_disabled("lee")


def test_weaker_hash_is_upgraded_on_login(accounts, tmp_path):
    accounts.add("kim", "dsl", PASSWORD)
    stronger = UserStore(accounts._engine, PasswordHasher(time_cost=2, memory_cost=8192, parallelism=1))
    assert stronger.authenticate("kim", PASSWORD)
    with accounts._engine.begin() as conn:
        stored = conn.exec_driver_sql("select password_hash from users where name='kim'").scalar_one()
    assert ",t=2," in stored


@pytest.mark.parametrize("role,allowed", [
    (Role.ADMIN, set(Permission) - {Permission.SAFEGUARDING}),  # unless [web] admins_are_dsl
    (Role.REVIEWER, {Permission.QUEUE, Permission.COUNTS}),
    (Role.DSL, {Permission.QUEUE, Permission.SAFEGUARDING, Permission.COUNTS}),
    (Role.HEAD, {Permission.COUNTS}),
    (Role.AUDITOR, {Permission.AUDIT}),
])
def test_role_permissions(role, allowed):
    assert set(PERMISSIONS[role]) == allowed
    assert User("x", role).can(Permission.SAFEGUARDING) == (Permission.SAFEGUARDING in allowed)


# -- the CLI -------------------------------------------------------------------------------------------
def _cli(args: list[str], config: Path, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args, "--config", str(config)], input=stdin,
                          capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])


def test_user_commands(tmp_path):
    config = tmp_path / "site.toml"
    config.write_text(f'[quarantine]\npath = "{tmp_path / "q"}"\n[web]\nargon2_time_cost = 1\n'
                      f'argon2_memory_kib = 8192\n[filters]\nchain = []\n')
    added = _cli(["user", "add", "kim", "--role", "dsl", "--email", "kim@school.sch.uk"], config, PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert "Added kim (dsl)" in added.stdout
    assert _cli(["user", "add", "kim", "--role", "dsl"], config, PASSWORD + "\n").returncode == 1
    bad_role = _cli(["user", "add", "lee", "--role", "janitor"], config, PASSWORD + "\n")
    assert bad_role.returncode == 2  # argparse: not one of the choices
    assert _cli(["user", "passwd", "kim"], config, "new long password\n").returncode == 0
    short = _cli(["user", "passwd", "kim"], config, "short\n")
    assert short.returncode == 1 and "at least" in short.stderr
    assert _cli(["user", "disable", "kim"], config).returncode == 0
    listing = _cli(["user", "list"], config)
    assert "kim" in listing.stdout and "disabled" in listing.stdout
    store = QuarantineStore(tmp_path / "q").open_sync()
    try:
        accounts = UserStore(store.engine, FAST)
        assert accounts.authenticate("kim", "new long password") is None  # disabled
        actions = [r["action"] for r in store.audit_sync()]
        assert actions == ["user_add", "user_passwd", "user_disable"]
    finally:
        store.close_sync()
