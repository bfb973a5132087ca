"""Server-side dashboard sessions, so that logout and password changes revoke cookies.

Revision ID: 0002_admin_session
Revises: 0001_initial
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_admin_session"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "admin_session",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer(),
                  sa.ForeignKey("admin_user.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_admin_session_user_id", "admin_session", ["user_id"])


def downgrade():
    op.drop_index("ix_admin_session_user_id", table_name="admin_session")
    op.drop_table("admin_session")
