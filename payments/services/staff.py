"""Staff accounts of the finance console: scrypt password hashes, optional TOTP, roles and client scope,
and server-side sessions (the cookie carries a random token, the table only its SHA-256).

Failed logins lock an account for a while; a per-address window in memory slows guessing across
accounts. Every login, failure, lock and logout is audited (never the password or the code).
"""

from __future__ import annotations

import asyncio
import base64
import enum
import hashlib
import hmac
import os
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from sqlalchemy import delete, select

from payments.domain.errors import DomainError, FieldError, NotFound
from payments.persistence.db import Database, utcnow
from payments.persistence.ids import new_id
from payments.persistence.tables import Client
from payments.persistence.tables_console import StaffSession, StaffUser
from payments.security.pii import PiiCipher
from payments.security.web import derive
from payments.services import audit
from payments.settings import ConsoleSettings

TOTP_COLUMN = "staff_users.totp_secret"
TOTP_STEP = 30
TOTP_DIGITS = 6
MFA_WINDOW = timedelta(minutes=5)  # between a right password and the code
MFA_TRIES = 5
MIN_PASSWORD = 12
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")
# scrypt at N=2^15, r=8: 32 MiB and tens of milliseconds per check. The parameters are stored in each
# hash, so raising them later only affects new passwords.
SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P = 15, 8, 1
SCRYPT_MAXMEM = 64 * 1024 * 1024
# Per client address: this many failed logins in the window, then every try is refused for a while.
ADDRESS_FAILURES, ADDRESS_WINDOW_SECONDS = 20, 600


class StaffRole(enum.StrEnum):
    CLERK = "clerk"  # works the queue; actions above the four-eyes amount wait for an approver
    APPROVER = "approver"  # also approves what someone else asked for


class Forbidden(DomainError):
    """The user is known but the role or permission does not allow this."""

    type_slug = "forbidden"
    status = 403


@dataclass(frozen=True, slots=True)
class Staff:
    """The logged-in person, as every page and action sees them."""

    id: str
    username: str
    role: StaffRole
    client_id: str | None  # None: every client
    can_reveal: bool

    @property
    def actor(self) -> str:
        return f"staff:{self.username}"

    @property
    def can_approve(self) -> bool:
        return self.role is StaffRole.APPROVER

    @property
    def client_ids(self) -> list[str] | None:
        """For queries: None means no client filter."""
        return None if self.client_id is None else [self.client_id]

    def sees(self, client_id: str | None) -> bool:
        return client_id is not None and (self.client_id is None or self.client_id == client_id)


def _staff(row: StaffUser) -> Staff:
    return Staff(row.id, row.username, StaffRole(row.role), row.client_id, row.can_reveal)


# -- passwords ---------------------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def hash_password(password: str) -> str:
    salt = os.urandom(16)
    derived = hashlib.scrypt(
        password.encode(),
        salt=salt,
        n=2**SCRYPT_LOG_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=SCRYPT_MAXMEM,
        dklen=32,
    )
    return f"scrypt${SCRYPT_LOG_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(derived)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, log_n, r, p, salt, want = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=2 ** int(log_n),
            r=int(r),
            p=int(p),
            maxmem=SCRYPT_MAXMEM,
            dklen=32,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(want))


_dummy_hash: str | None = None


def _dummy() -> str:
    """An unknown username still costs one scrypt, so timing does not tell which names exist."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password(secrets.token_urlsafe(16))
    return _dummy_hash


def check_new_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise FieldError("password", f"must have at least {MIN_PASSWORD} characters")
    if len(password) > 200:
        raise FieldError("password", "must have at most 200 characters")
    return password


# -- TOTP (RFC 6238, what authenticator apps do: SHA-1, 6 digits, 30 s) -------------------------------


def new_totp_secret() -> str:
    return base64.b32encode(os.urandom(20)).decode().rstrip("=")


def _totp(secret: str) -> TOTP:
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    # SHA-1 is what RFC 6238 and every authenticator app use; HMAC-SHA1 is not weakened by SHA-1 collisions.
    return TOTP(key, TOTP_DIGITS, SHA1(), TOTP_STEP)  # noqa: S303


def totp_code(secret: str, at: float | None = None) -> str:
    return _totp(secret).generate(int(at if at is not None else time.time())).decode()


def totp_uri(secret: str, username: str) -> str:
    return _totp(secret).get_provisioning_uri(username, "payrecon")


def _matching_step(secret: str, code: str, now: float, after_step: int) -> int | None:
    """The time step (now, or one either side for clock drift) whose code this is, if not used yet."""
    if not re.fullmatch(r"[0-9]{6}", code):
        return None
    totp, current = _totp(secret), int(now) // TOTP_STEP
    for step in (current - 1, current, current + 1):
        if step > after_step and hmac.compare_digest(totp.generate(step * TOTP_STEP), code.encode()):
            return step
    return None


# -- logins ------------------------------------------------------------------------------------------


class LoginOutcome(enum.StrEnum):
    OK = "ok"
    TOTP = "totp"  # password right; the session waits for the code
    FAILED = "failed"  # the one answer for a wrong name or a wrong password
    LOCKED = "locked"  # too many failures: of this account, or from this address


@dataclass(frozen=True, slots=True)
class LoginResult:
    outcome: LoginOutcome
    token: str | None = None


class AddressWindow:
    """Failed logins per client address in the last few minutes, in this process's memory."""

    def __init__(self, limit: int = ADDRESS_FAILURES, seconds: float = ADDRESS_WINDOW_SECONDS) -> None:
        self.limit, self.seconds = limit, seconds
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, address: str, now: float) -> deque[float]:
        q = self._failures.setdefault(address, deque())
        while q and q[0] <= now - self.seconds:
            q.popleft()
        return q

    def blocked(self, address: str, now: float | None = None) -> bool:
        return len(self._recent(address, now or time.monotonic())) >= self.limit

    def fail(self, address: str, now: float | None = None) -> None:
        now = now or time.monotonic()
        self._recent(address, now).append(now)
        if len(self._failures) > 10_000:  # a flood of addresses must not grow this without end
            self._failures = {a: q for a, q in self._failures.items() if q and q[-1] > now - self.seconds}


@dataclass(frozen=True, slots=True)
class SessionState:
    staff: Staff
    mfa_pending: bool
    token_hash: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class StaffService:
    def __init__(self, db: Database, pii: PiiCipher, settings: ConsoleSettings, web_secret: bytes) -> None:
        self.db = db
        self.pii = pii
        self.settings = settings
        self._csrf_key = derive(web_secret, "console-csrf")
        self.addresses = AddressWindow()

    # accounts

    async def create_user(
        self,
        username: str,
        password: str,
        role: StaffRole,
        *,
        client_id: str | None,
        can_reveal: bool = False,
        totp: bool = False,
        actor: str = "cli",
    ) -> tuple[str, str | None]:
        """Returns (user id, TOTP secret or None): the secret is shown once, to be put in an app."""
        username = username.strip().lower()
        if not _USERNAME.fullmatch(username):
            raise FieldError(
                "username", "3 to 64 of a-z, 0-9, '.', '_' or '-', starting with a letter or digit"
            )
        check_new_password(password)
        password_hash = await asyncio.to_thread(hash_password, password)
        user_id, now = new_id("stf"), utcnow()
        secret = new_totp_secret() if totp else None
        async with self.db.transaction() as session:
            if client_id is not None and await session.get(Client, client_id) is None:
                raise FieldError("client", f"no client {client_id}")
            if await session.scalar(select(StaffUser.id).where(StaffUser.username == username)):
                raise FieldError("username", "is taken")
            session.add(
                StaffUser(
                    id=user_id,
                    username=username,
                    password_hash=password_hash,
                    role=role.value,
                    client_id=client_id,
                    can_reveal=can_reveal,
                    totp_secret_enc=(
                        self.pii.encrypt(secret, column=TOTP_COLUMN, row_id=user_id) if secret else None
                    ),
                    totp_last_step=0,
                    failed_logins=0,
                    locked_until=None,
                    disabled_at=None,
                    created_at=now,
                    updated_at=now,
                )
            )
            audit.record(
                session,
                actor=actor,
                action="staff.created",
                entity_type="staff_user",
                entity_id=user_id,
                client_id=client_id,
                after={
                    "username": username,
                    "role": role.value,
                    "client_id": client_id,
                    "can_reveal": can_reveal,
                    "totp": totp,
                },
            )
        return user_id, secret

    # looking after accounts (CLI): each change ends the user's sessions and is audited

    async def disable_user(self, username: str, *, actor: str = "cli") -> None:
        """No more logins; open sessions end at once. The row stays for the audit trail."""
        await self._change(username, actor, "staff.disabled", disable=True)

    async def enable_user(self, username: str, *, actor: str = "cli") -> None:
        await self._change(username, actor, "staff.enabled", enable=True)

    async def reset_password(self, username: str, password: str, *, actor: str = "cli") -> None:
        """A new password; also lifts a lockout."""
        check_new_password(password)
        password_hash = await asyncio.to_thread(hash_password, password)
        await self._change(username, actor, "staff.password_reset", password_hash=password_hash)

    async def reset_totp(self, username: str, *, enable: bool, actor: str = "cli") -> str | None:
        """A new TOTP secret (returned, to be shown once) or none (`enable=False`)."""
        secret = new_totp_secret() if enable else None
        await self._change(username, actor, "staff.totp_reset", totp_secret=secret, totp=True)
        return secret

    async def _change(
        self,
        username: str,
        actor: str,
        action: str,
        *,
        disable: bool = False,
        enable: bool = False,
        password_hash: str | None = None,
        totp: bool = False,
        totp_secret: str | None = None,
    ) -> None:
        now = utcnow()
        async with self.db.transaction() as session:
            user = await session.scalar(
                select(StaffUser).where(StaffUser.username == username.strip().lower()).with_for_update()
            )
            if user is None:
                raise NotFound(f"no staff user {username!r}")
            if disable:
                user.disabled_at = now
            if enable:
                user.disabled_at = None
            if password_hash is not None:
                user.password_hash = password_hash
                user.failed_logins = 0
                user.locked_until = None
            if totp:
                user.totp_secret_enc = (
                    self.pii.encrypt(totp_secret, column=TOTP_COLUMN, row_id=user.id) if totp_secret else None
                )
                user.totp_last_step = 0
            user.updated_at = now
            await session.execute(delete(StaffSession).where(StaffSession.user_id == user.id))
            audit.record(
                session,
                actor=actor,
                action=action,
                entity_type="staff_user",
                entity_id=user.id,
                client_id=user.client_id,
                after={"username": user.username, "totp": user.totp_secret_enc is not None},
            )

    # logging in and out

    async def login(self, username: str, password: str, address: str) -> LoginResult:
        if self.addresses.blocked(address):
            await asyncio.to_thread(verify_password, password, _dummy())
            return LoginResult(LoginOutcome.LOCKED)
        name = username.strip().lower()[:64]
        async with self.db.sessions() as session:
            row = await session.scalar(select(StaffUser).where(StaffUser.username == name))
        stored = row.password_hash if row is not None and row.disabled_at is None else _dummy()
        right = await asyncio.to_thread(verify_password, password[:200], stored)
        if row is None or row.disabled_at is not None:
            self.addresses.fail(address)
            return LoginResult(LoginOutcome.FAILED)
        now = utcnow()
        async with self.db.transaction() as session:
            user = await session.get_one(StaffUser, row.id, with_for_update=True)
            if user.locked_until is not None and user.locked_until > now:
                # Even the right password waits: the lock is what stops guessing.
                self._audit(session, user, "staff.login_refused", reason="locked")
                return LoginResult(LoginOutcome.LOCKED)
            if not right:
                self.addresses.fail(address)
                return self._failed(session, user, now, "password")
            user.failed_logins, user.locked_until, user.updated_at = 0, None, now
            mfa = user.totp_secret_enc is not None
            token = self._open_session(session, user, now, mfa_pending=mfa)
            self._audit(session, user, "staff.password_accepted" if mfa else "staff.login")
        return LoginResult(LoginOutcome.TOTP if mfa else LoginOutcome.OK, token)

    def _failed(self, session, user: StaffUser, now: datetime, why: str) -> LoginResult:  # type: ignore[no-untyped-def]
        user.failed_logins += 1
        user.updated_at = now
        locked = user.failed_logins >= self.settings.max_login_failures
        if locked:
            user.locked_until = now + timedelta(minutes=self.settings.lockout_minutes)
            user.failed_logins = 0
        self._audit(session, user, "staff.locked" if locked else "staff.login_failed", reason=why)
        return LoginResult(LoginOutcome.LOCKED if locked else LoginOutcome.FAILED)

    async def verify_totp(self, token: str, code: str, now: float | None = None) -> LoginOutcome:
        """The second step: OK turns the pending session into a full one; five wrong codes end it."""
        when = utcnow()
        async with self.db.transaction() as session:
            row = await session.get(StaffSession, token_hash(token), with_for_update=True)
            if row is None or not row.mfa_pending or row.expires_at <= when:
                return LoginOutcome.FAILED
            user = await session.get_one(StaffUser, row.user_id, with_for_update=True)
            if user.totp_secret_enc is None or user.disabled_at is not None:
                return LoginOutcome.FAILED
            secret = self.pii.decrypt(user.totp_secret_enc, column=TOTP_COLUMN, row_id=user.id)
            step = _matching_step(secret, code.strip(), now or time.time(), user.totp_last_step)
            if step is None:
                row.mfa_failures += 1
                if row.mfa_failures >= MFA_TRIES:
                    await session.delete(row)
                    return self._failed(session, user, when, "totp").outcome
                self._audit(session, user, "staff.totp_failed")
                return LoginOutcome.FAILED
            user.totp_last_step, user.updated_at = step, when
            row.mfa_pending, row.last_seen_at = False, when
            row.expires_at = when + timedelta(hours=self.settings.session_absolute_hours)
            self._audit(session, user, "staff.login", after={"totp": True})
        return LoginOutcome.OK

    def _open_session(self, session, user: StaffUser, now: datetime, *, mfa_pending: bool) -> str:  # type: ignore[no-untyped-def]
        token = secrets.token_urlsafe(32)
        lifetime = MFA_WINDOW if mfa_pending else timedelta(hours=self.settings.session_absolute_hours)
        session.add(
            StaffSession(
                token_hash=token_hash(token),
                user_id=user.id,
                mfa_pending=mfa_pending,
                mfa_failures=0,
                created_at=now,
                last_seen_at=now,
                expires_at=now + lifetime,
            )
        )
        return token

    async def session_for(self, token: str | None) -> SessionState | None:
        """The session behind a cookie, if it is alive: within its absolute limit and not idle too long.
        An expired one is deleted on sight."""
        if not token or len(token) > 100:
            return None
        now = utcnow()
        key = token_hash(token)
        async with self.db.sessions() as session:
            row = await session.get(StaffSession, key)
            user = await session.get(StaffUser, row.user_id) if row is not None else None
        if row is None or user is None:
            return None
        idle = timedelta(minutes=self.settings.session_idle_minutes)
        if row.expires_at <= now or row.last_seen_at + idle <= now or user.disabled_at is not None:
            async with self.db.transaction() as session:
                await session.execute(delete(StaffSession).where(StaffSession.token_hash == key))
            return None
        if now - row.last_seen_at > timedelta(seconds=30):  # one write a minute or so, not one per request
            async with self.db.transaction() as session:
                fresh = await session.get(StaffSession, key, with_for_update=True)
                if fresh is not None:
                    fresh.last_seen_at = now
        return SessionState(_staff(user), row.mfa_pending, key)

    async def logout(self, token: str | None) -> None:
        if not token:
            return
        key = token_hash(token)
        async with self.db.transaction() as session:
            row = await session.get(StaffSession, key)
            if row is None:
                return
            user = await session.get_one(StaffUser, row.user_id)
            await session.delete(row)
            self._audit(session, user, "staff.logout")

    # CSRF: a token derived from the session, so it is valid for this session only and needs no storage

    def csrf_token(self, state: SessionState) -> str:
        return hmac.new(self._csrf_key, state.token_hash.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, state: SessionState, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(self.csrf_token(state), str(submitted))

    @staticmethod
    def _audit(session, user: StaffUser, action: str, *, reason: str = "", after=None) -> None:  # type: ignore[no-untyped-def]
        audit.record(
            session,
            actor=f"staff:{user.username}",
            action=action,
            entity_type="staff_user",
            entity_id=user.id,
            client_id=user.client_id,
            after=after,
            reason=reason,
        )
