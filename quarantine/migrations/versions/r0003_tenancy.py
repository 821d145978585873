"""Several schools on one gateway (docs/trust.md): the school on holds, audit rows, decisions and
DSL alerts, and the schools an account may see. Existing rows belong to the single school a
config without [[schools]] has, id "school" (a trust adopting an old database gives that
school `id = "school"`, or the rows are seen by the trust-wide roles only).

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

IMPLICIT = "school"


def _columns(table: str) -> set[str]:
    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}


def upgrade() -> None:
    # A column already there is left alone: 0001 makes a table missing from a pre-migration
    # database from today's definition, which has these columns.
    wanted = {
        "messages": [sa.Column("school_id", sa.String(64), nullable=False, server_default=IMPLICIT),
                     sa.Column("schools", sa.Text, nullable=False, server_default=f" {IMPLICIT} ")],
        "audit": [sa.Column("school_id", sa.String(64), nullable=False, server_default=IMPLICIT)],
        "decisions": [sa.Column("schools", sa.Text, nullable=False, server_default=f" {IMPLICIT} ")],
        "dsl_alerts": [sa.Column("school_id", sa.String(64), nullable=False, server_default=IMPLICIT)],
        "users": [sa.Column("schools", sa.Text, nullable=False, server_default="")],
    }
    for table, columns in wanted.items():
        have = _columns(table)
        missing = [c for c in columns if c.name not in have]
        if not missing:
            continue
        with op.batch_alter_table(table) as batch:
            for column in missing:
                batch.add_column(column)
            if table == "messages" and "school_id" not in have:
                batch.create_index("ix_messages_school_id", ["school_id"])


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("schools")
    with op.batch_alter_table("dsl_alerts") as batch:
        batch.drop_column("school_id")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("schools")
    with op.batch_alter_table("audit") as batch:
        batch.drop_column("school_id")
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_school_id")
        batch.drop_column("schools")
        batch.drop_column("school_id")
