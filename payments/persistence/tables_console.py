"""Models of the finance review console: staff accounts, their sessions, and four-eyes approvals.

Registered on the shared metadata by the import at the end of tables.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from payments.persistence.tables import ID, Base, Fen


class StaffUser(Base):
    """A person working the console. `client_id` NULL: every client. The password is stored only as a
    scrypt hash (parameters inside it); the TOTP secret only encrypted, bound to this row."""

    __tablename__ = "staff_users"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    client_id: Mapped[str | None] = mapped_column(ForeignKey("clients.id"), index=True)
    can_reveal: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_secret_enc: Mapped[str | None] = mapped_column(Text)
    # The last TOTP time step accepted: a code is good once, even within its 30 seconds.
    totp_last_step: Mapped[int] = mapped_column(Integer, default=0)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    __table_args__ = (CheckConstraint("role in ('clerk','approver')", name="role"),)


class StaffSession(Base):
    """A logged-in browser. The cookie holds a random token; only its SHA-256 is kept here, so a copy
    of this table logs no one in. `mfa_pending`: the password was right, the TOTP code is still due."""

    __tablename__ = "staff_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("staff_users.id"), index=True)
    mfa_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    mfa_failures: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]  # the absolute limit; idle expiry is last_seen_at + the idle time


class Approval(Base):
    """An action on a review item that waits for a second person (four-eyes): what was asked, by whom,
    and who decided. `params` hold ids and fen only."""

    __tablename__ = "approvals"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("clients.id"))
    review_item_id: Mapped[str] = mapped_column(ForeignKey("review_items.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))  # match | split | write_off | refund | ignore
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    amount_fen: Mapped[int] = mapped_column(Fen)
    reason: Mapped[str] = mapped_column(String(500), default="")
    # pending | approved | rejected | withdrawn | failed
    status: Mapped[str] = mapped_column(String(20))
    requested_by: Mapped[str] = mapped_column(ForeignKey("staff_users.id"))
    requested_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime | None]
    note: Mapped[str] = mapped_column(String(500), default="")
    __table_args__ = (Index(None, "client_id", "status", "requested_at"),)
