"""A real OpenLDAP slapd (Debian's) on loopback port 0-ish, with a tree the test seeds by slapadd."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.conftest import free_port

SUFFIX = "dc=school,dc=example"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PW = "test-admin-password"
SLAPD = "/usr/sbin/slapd"


class Slapd:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def _conf(self) -> Path:
        conf = self.root / "slapd.conf"
        conf.write_text(f"""include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {self.root / 'slapd.pid'}
database mdb
maxsize 104857600
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PW}
directory {self.root / 'db'}
""")
        return conf

    def start(self, ldif: str) -> "Slapd":
        if not Path(SLAPD).exists():
            raise RuntimeError(f"{SLAPD} missing: apt-get install slapd (scripts/setup --test does)")
        (self.root / "db").mkdir(parents=True, exist_ok=True)
        conf = self._conf()
        seed = self.root / "seed.ldif"
        seed.write_text(f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: School\ndc: school\n\n"
                        + ldif)
        subprocess.run(["/usr/sbin/slapadd", "-f", str(conf), "-l", str(seed)], check=True, capture_output=True)
        self.port = free_port()
        self.proc = subprocess.Popen([SLAPD, "-f", str(conf), "-h", f"ldap://127.0.0.1:{self.port}/", "-d", "0"],
                                     stdout=subprocess.DEVNULL, stderr=open(self.root / "slapd.log", "ab"))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"slapd exited: {(self.root / 'slapd.log').read_text()[-1000:]}")
                time.sleep(0.05)
        raise RuntimeError("slapd did not listen")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.root / "db", ignore_errors=True)


def person(uid: str, mail: str, name: str, ou: str = "people", **extra: str | list[str]) -> str:
    lines = [f"dn: uid={uid},ou={ou},{SUFFIX}", "objectClass: inetOrgPerson", f"uid: {uid}", f"cn: {name}",
             f"sn: {name.split()[-1]}", f"displayName: {name}", f"mail: {mail}"]
    for key, value in extra.items():
        for v in ([value] if isinstance(value, str) else value):
            lines.append(f"{key}: {v}")
    return "\n".join(lines) + "\n\n"


def group(cn: str, members: list[str]) -> str:
    return "\n".join([f"dn: cn={cn},ou=groups,{SUFFIX}", "objectClass: groupOfNames", f"cn: {cn}",
                      *[f"member: {m}" for m in members]]) + "\n\n"


def ou(name: str) -> str:
    return f"dn: ou={name},{SUFFIX}\nobjectClass: organizationalUnit\nou: {name}\n\n"
