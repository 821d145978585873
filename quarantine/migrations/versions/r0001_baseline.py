"""Baseline: the schema as released up to stop 26 (single node; held bytes in files).

Revision ID: 0001
"""
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BASELINE = ("messages", "recipients", "audit", "decisions", "seen", "report_runs", "config_snapshots",
            "users", "sessions", "review_seen", "review_notes", "false_positives", "sender_lists", "release_requests",
            "dsl_alerts", "used_tokens", "access_grants", "digested")


def upgrade() -> None:
    from quarantine.store import metadata

    bind = op.get_bind()
    metadata.create_all(bind, tables=[metadata.tables[name] for name in BASELINE], checkfirst=True)


def downgrade() -> None:
    raise NotImplementedError("the baseline is not undone; restore a backup instead")
