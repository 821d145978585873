"""Sender allow/block entries per school (docs/trust.md): `sender_lists.school` and
`sender_list_expiry.school`, part of each table's key, so two schools can each have an entry for
one address. Existing entries get "" - the trust's entry, covering every school's mail, which is
what they did before.

Revision ID: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("sender_lists", "sender_list_expiry")


def _rekey(table: str, key: list[str], add: bool) -> None:
    inspector = sa.inspect(op.get_bind())
    if table not in inspector.get_table_names():
        return  # sender_list_expiry is made at store open from today's definition, which has the column
    have = {c["name"] for c in inspector.get_columns(table)}
    if add == ("school" in have):
        return  # already as wanted (a table made from today's definition)
    old_pk = inspector.get_pk_constraint(table).get("name")
    # SQLite cannot change a key in place: the batch copies the table; PostgreSQL alters it.
    with op.batch_alter_table(table, recreate="auto") as batch:
        if old_pk:
            batch.drop_constraint(old_pk, type_="primary")
        if add:
            batch.add_column(sa.Column("school", sa.String(64), nullable=False, server_default=""))
        else:
            batch.drop_column("school")
        batch.create_primary_key(f"{table}_pkey", key)


def upgrade() -> None:
    for table in TABLES:
        _rekey(table, ["address", "school"], add=True)


def downgrade() -> None:
    # one key per address again: where an address has several entries, the schools' go (the trust's stays)
    bind = op.get_bind()
    for table in TABLES:
        if table in sa.inspect(bind).get_table_names():
            op.execute(sa.text(f"DELETE FROM {table} WHERE school <> '' AND address IN "
                               f"(SELECT address FROM {table} GROUP BY address HAVING COUNT(*) > 1)"))
        _rekey(table, ["address"], add=False)
