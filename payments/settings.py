"""Typed settings, read once by a composition root and passed down.

Sources, later ones winning: defaults, a TOML file named by PAYRECON_CONFIG, environment variables
PAYRECON_<SECTION>__<NAME>. Any setting ending in `_file` may instead be given by a file path, and any
secret `X` may be given as `X_FILE` (read from that path). A bad value stops start-up with one line
naming the setting.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

PREFIX = "PAYRECON_"


class DatabaseSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # Empty means the embedded default: SQLite at <data_dir>/payrecon.db
    url: str = ""
    pool_size: int = 10
    echo: bool = False


class SecuritySettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # JSON keyring for PII encryption; empty means <data_dir>/keys/pii-keyring.json, created in sandbox mode
    pii_keyring_file: str = ""


class ServerSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8000
    # The address borrowers and providers reach this service at; links and notify URLs are built on it.
    public_base_url: str = "http://127.0.0.1:8000"
    max_body_bytes: int = 1_048_576
    # Run the scheduler inside the web process (embedded default); production runs `payrecon worker`.
    embedded_worker: bool = True


class LoggingSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json: bool = True


class Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    mode: Literal["sandbox", "live"] = "sandbox"
    data_dir: str = "./data"
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    security: SecuritySettings = msgspec.field(default_factory=SecuritySettings)
    logging: LoggingSettings = msgspec.field(default_factory=LoggingSettings)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite+aiosqlite:///{self.data_path.resolve() / 'payrecon.db'}"

    @property
    def pii_keyring_path(self) -> Path:
        return Path(self.security.pii_keyring_file or self.data_path / "keys" / "pii-keyring.json")


class SettingsError(Exception):
    """One line naming the setting and what is wrong with it."""


def _set_path(tree: dict[str, Any], path: list[str], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        nxt = node.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise SettingsError(f"{PREFIX}{'__'.join(path).upper()}: conflicts with a scalar setting")
        node = nxt
    node[path[-1]] = value


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(PREFIX) or name == f"{PREFIX}CONFIG":
            continue
        path = [p.lower() for p in name[len(PREFIX) :].split("__")]
        if path[-1].endswith("_file") and not _is_declared_file_setting(path):
            # X_FILE holds the path of a file whose content is the secret X
            try:
                value = Path(value).read_text().strip()
            except OSError as exc:
                raise SettingsError(f"{name}: cannot read {value!r}: {exc.strerror}") from None
            path[-1] = path[-1][: -len("_file")]
        _set_path(tree, path, value)
    return tree


def _is_declared_file_setting(path: list[str]) -> bool:
    return path in (["security", "pii_keyring_file"],)


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    config_file = env.get(f"{PREFIX}CONFIG")
    if config_file:
        try:
            raw = tomllib.loads(Path(config_file).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"{PREFIX}CONFIG: cannot read {config_file!r}: {exc}") from None
    raw = _merge(raw, _from_env(env))
    try:
        # str_keys + strict=False lets "8000" from the environment become an int
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def _describe(exc: msgspec.ValidationError) -> str:
    text = str(exc)
    # msgspec says "... - at `$.server.port`"; name the environment variable instead
    if " - at `$." in text:
        message, _, where = text.partition(" - at `$.")
        path = where.rstrip("`").split(".")
        return f"{PREFIX}{'__'.join(path).upper()}: {message}"
    if "Object contains unknown field" in text:
        return f"unknown setting: {text}"
    return text
