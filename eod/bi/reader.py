"""The login role BI tools connect as: finance_reader's privileges and nothing more.

finance_reader (migration 0201) is NOLOGIN and may only SELECT the marts. A BI tool
needs a role that can log in, so `eod bi` makes one that is a member of finance_reader
alone, inherits its privileges, reads only (default_transaction_read_only) and has a
generated password kept in the state folder. Roles are cluster-wide: running this again
with the same name resets the password to the kept one and removes any other membership.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import quote, urlparse

from psycopg2 import sql

from eod.db import transaction
from eod.errors import ConfigError

READER_ROLE = "finance_bi"


def _password(state_dir: Path, role: str) -> str:
    path = state_dir / f"{role}.password"
    if path.exists():
        return path.read_text().strip()
    state_dir.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    path.touch(mode=0o600)
    path.write_text(password + "\n")
    return password


def ensure_reader(admin_url: str, state_dir: Path, role: str = READER_ROLE) -> str:
    """Create or refresh the login role; return its password."""
    password = _password(state_dir, role)
    ident = sql.Identifier(role)
    with transaction(admin_url) as conn, conn.cursor() as cur:
        cur.execute("select 1 from pg_roles where rolname = 'finance_reader'")
        if cur.fetchone() is None:
            raise ConfigError("role finance_reader does not exist: run `eod db migrate` first")
        cur.execute("select 1 from pg_roles where rolname = %s", (role,))
        verb = "alter" if cur.fetchone() else "create"
        cur.execute(
            sql.SQL(
                "{} role {} login inherit nosuperuser nocreatedb nocreaterole noreplication"
                " nobypassrls password %s"
            ).format(sql.SQL(verb), ident),
            (password,),
        )
        cur.execute(
            """select g.rolname from pg_auth_members m
               join pg_roles g on g.oid = m.roleid join pg_roles r on r.oid = m.member
               where r.rolname = %s and g.rolname <> 'finance_reader'""",
            (role,),
        )
        for (other,) in cur.fetchall():
            cur.execute(sql.SQL("revoke {} from {}").format(sql.Identifier(other), ident))
        cur.execute(sql.SQL("grant finance_reader to {}").format(ident))
        cur.execute(sql.SQL("alter role {} set default_transaction_read_only = on").format(ident))
    return password


def reader_url(admin_url: str, role: str, password: str, driver: str = "postgresql") -> str:
    """The admin URL's server and database, logged in as the reader role instead."""
    parsed = urlparse(admin_url)
    host = parsed.hostname or ""
    if host and ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    port = f":{parsed.port}" if parsed.port else ""
    netloc = f"{quote(role, safe='')}:{quote(password, safe='')}@{host}{port}"
    return parsed._replace(scheme=driver, netloc=netloc).geturl()
