"""Encryption of personal data at rest (AES-256-GCM under a versioned key) and blind indexes.

A stored value reads `<key id>.<base64(nonce || ciphertext || tag)>`. The associated data binds a
ciphertext to its column and row, so a value copied into another row or column fails to decrypt.
Blind indexes are HMAC-SHA256 under a separate key, so equal ID numbers can be found without
decrypting every row.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_KEY_ID = re.compile(r"[a-z0-9-]{1,32}")


class KeyringError(Exception):
    pass


@dataclass(frozen=True)
class Keyring:
    active: str
    keys: dict[str, bytes]
    blind_index_key: bytes

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise KeyringError(f"active key {self.active!r} is not in the keyring")
        for key_id, key in self.keys.items():
            if not _KEY_ID.fullmatch(key_id) or len(key) != 32:
                raise KeyringError(f"key {key_id!r} must have a short id and 32 bytes")
        if len(self.blind_index_key) < 32:
            raise KeyringError("blind_index_key must have at least 32 bytes")

    @classmethod
    def generate(cls) -> Keyring:
        return cls("k1", {"k1": AESGCM.generate_key(bit_length=256)}, os.urandom(32))

    def with_new_active_key(self) -> Keyring:
        n = 1 + max((int(k[1:]) for k in self.keys if k[1:].isdigit()), default=0)
        key_id = f"k{n}"
        return Keyring(
            key_id, {**self.keys, key_id: AESGCM.generate_key(bit_length=256)}, self.blind_index_key
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "active": self.active,
                "keys": {k: base64.b64encode(v).decode() for k, v in self.keys.items()},
                "blind_index_key": base64.b64encode(self.blind_index_key).decode(),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> Keyring:
        try:
            data = json.loads(text)
            return cls(
                data["active"],
                {k: base64.b64decode(v, validate=True) for k, v in data["keys"].items()},
                base64.b64decode(data["blind_index_key"], validate=True),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise KeyringError(f"malformed keyring: {type(exc).__name__}") from None


def load_keyring(path: Path, *, create: bool) -> Keyring:
    if path.exists():
        return Keyring.from_json(path.read_text())
    if not create:
        raise KeyringError(f"keyring file {path} does not exist")
    keyring = Keyring.generate()
    save_keyring(path, keyring)
    return keyring


def save_keyring(path: Path, keyring: Keyring) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(keyring.to_json())
    tmp.chmod(0o600)
    tmp.replace(path)


class PiiCipher:
    """`reload` (the keyring file, read again) lets a running instance read rows another process has
    already re-encrypted under a key added since this one started: rotation without a restart. The
    blind-index key never changes with a reload (indexes would stop matching), so a keyring that
    changes it is refused."""

    def __init__(self, keyring: Keyring, reload: Callable[[], Keyring] | None = None) -> None:
        self.keyring = keyring
        self._aeads = {k: AESGCM(v) for k, v in keyring.keys.items()}
        self._reload = reload

    def _refresh(self) -> None:
        assert self._reload is not None
        fresh = self._reload()
        if not hmac.compare_digest(fresh.blind_index_key, self.keyring.blind_index_key):
            raise KeyringError("the keyring file changed its blind-index key; refusing to use it")
        self.keyring = fresh
        self._aeads = {k: AESGCM(v) for k, v in fresh.keys.items()}

    def encrypt(self, plaintext: str, *, column: str, row_id: str) -> str:
        nonce = os.urandom(12)
        ct = self._aeads[self.keyring.active].encrypt(nonce, plaintext.encode(), _aad(column, row_id))
        return f"{self.keyring.active}.{base64.b64encode(nonce + ct).decode()}"

    def decrypt(self, stored: str, *, column: str, row_id: str) -> str:
        key_id, _, blob = stored.partition(".")
        aead = self._aeads.get(key_id)
        if aead is None and self._reload is not None:
            self._refresh()
            aead = self._aeads.get(key_id)
        if aead is None:
            raise KeyringError(f"no key {key_id!r} in the keyring")
        raw = base64.b64decode(blob)
        return aead.decrypt(raw[:12], raw[12:], _aad(column, row_id)).decode()

    def key_id_of(self, stored: str) -> str:
        return stored.partition(".")[0]

    def blind_index(self, value: str, *, kind: str) -> str:
        return hmac.new(self.keyring.blind_index_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def _aad(column: str, row_id: str) -> bytes:
    return f"payrecon:{column}:{row_id}".encode()
