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
    # Signs the borrower's identity pass and CSRF tokens; empty means <data_dir>/keys/web-secret,
    # created in sandbox mode. Several instances must share it.
    web_secret_file: str = ""


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


class AlipaySettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    gateway_url: str = "https://openapi.alipay.com/gateway.do"
    app_id: str = ""
    seller_id: str = ""  # the PID (2088...); when set, notifications for another seller are refused
    app_private_key: str = ""  # PEM; or APP_PRIVATE_KEY_FILE
    alipay_public_key: str = ""  # PEM; or ALIPAY_PUBLIC_KEY_FILE
    # During a change of Alipay's key: the old one, still accepted until removed.
    previous_alipay_public_key: str = ""  # PEM; or PREVIOUS_ALIPAY_PUBLIC_KEY_FILE


class WechatPaySettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    gateway_url: str = "https://api.mch.weixin.qq.com"
    mchid: str = ""
    appid: str = ""
    merchant_serial_no: str = ""  # hex serial of the merchant API certificate
    merchant_private_key: str = ""  # PKCS#8 PEM (apiclient_key.pem); or MERCHANT_PRIVATE_KEY_FILE
    apiv3_key: str = ""  # 32 characters; or APIV3_KEY_FILE
    platform_key_id: str = ""  # PUB_KEY_ID_... or a platform certificate serial
    platform_public_key: str = ""  # PEM; or PLATFORM_PUBLIC_KEY_FILE
    # More platform keys during a rotation: key id -> PEM (TOML table in the config file)
    extra_platform_public_keys: dict[str, str] = msgspec.field(default_factory=dict)
    # Paying inside WeChat's own browser (JSAPI) needs the payer's openid, which only the web OAuth of
    # an official account (公众号) bound to the merchant gives. Its appid defaults to `appid`; without
    # its AppSecret, WeChat's browser is offered H5 as before (which WeChat refuses in-app).
    official_account_appid: str = ""
    official_account_secret: str = ""  # or OFFICIAL_ACCOUNT_SECRET_FILE


class BankCardSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    enabled: bool = True
    gateway_base: str = "https://gateway.95516.com"
    file_url: str = "https://filedownload.95516.com/"
    mer_id: str = ""
    signing_key: str = ""  # merchant signing key PEM; or SIGNING_KEY_FILE
    signing_cert: str = ""  # merchant signing certificate PEM; or SIGNING_CERT_FILE
    root_cert: str = ""  # UnionPay root CA PEM; or ROOT_CERT_FILE
    middle_cert: str = ""  # UnionPay intermediate CA PEM; or MIDDLE_CERT_FILE
    expected_cn_org: str = "中国银联股份有限公司"


class ProvidersSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    alipay: AlipaySettings = msgspec.field(default_factory=AlipaySettings)
    wechatpay: WechatPaySettings = msgspec.field(default_factory=WechatPaySettings)
    bankcard: BankCardSettings = msgspec.field(default_factory=BankCardSettings)
    # Sandbox notification retries come this many times faster than the providers' real schedules.
    sandbox_time_factor: float = 60.0


class WebhookSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # Deliver to addresses in private ranges (10/8, 172.16/12, 192.168/16, fc00::/7, ...): only for
    # case systems inside the same network. Loopback is allowed in sandbox mode; link-local never.
    allow_private_targets: bool = False
    # Seconds between dispatcher runs; a commit that writes events also wakes the dispatcher at once.
    dispatch_interval: float = 1.0
    # Seconds to wait for a receiver's answer before the attempt counts as failed.
    timeout: float = 15.0


class ConsoleSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The finance review console (/console): money limits in fen, and staff sessions."""

    # A clerk may write off a shortfall of at most this much when matching (10.00 yuan).
    write_off_limit_fen: int = 1_000
    # Actions on a payment above this amount wait for a second person (5,000.00 yuan).
    four_eyes_above_fen: int = 500_000
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    # Failed logins in a row that lock a staff account, and for how long.
    max_login_failures: int = 5
    lockout_minutes: int = 15


class ReconSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Reconciliation jobs."""

    # Beijing time of day ("HH:MM") at which yesterday's statement of each rail is checked: after the
    # rail publishes it (the next morning). A check that finds no file yet is retried by the
    # six-hourly catch-up run; a day already checked is not changed by later runs.
    statement_times: dict[str, str] = msgspec.field(
        default_factory=lambda: {"alipay": "10:00", "wechatpay": "10:30", "bankcard": "09:30"}
    )
    # Seconds between runs of the rules engine over payments without our reference.
    match_interval: int = 60
    # Seconds between checks of the ledger invariant over every payment, debt and case.
    ledger_interval: int = 3600

    def __post_init__(self) -> None:
        for rail, when in self.statement_times.items():
            hour, _, minute = when.partition(":")
            if not (hour.isdigit() and minute.isdigit() and int(hour) < 24 and int(minute) < 60 and len(minute) == 2):
                raise ValueError(f"statement_times.{rail} must be a Beijing time of day as HH:MM")
        if self.match_interval < 1 or self.ledger_interval < 1:
            raise ValueError("intervals are whole seconds, at least 1")

    def statement_time(self, rail: str) -> tuple[int, int] | None:
        when = self.statement_times.get(rail)
        if when is None:
            return None
        hour, _, minute = when.partition(":")
        return int(hour), int(minute)


class Settings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    mode: Literal["sandbox", "live"] = "sandbox"
    data_dir: str = "./data"
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    security: SecuritySettings = msgspec.field(default_factory=SecuritySettings)
    logging: LoggingSettings = msgspec.field(default_factory=LoggingSettings)
    providers: ProvidersSettings = msgspec.field(default_factory=ProvidersSettings)
    webhooks: WebhookSettings = msgspec.field(default_factory=WebhookSettings)
    console: ConsoleSettings = msgspec.field(default_factory=ConsoleSettings)
    recon: ReconSettings = msgspec.field(default_factory=ReconSettings)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite+aiosqlite:///{self.data_path.resolve() / 'payrecon.db'}"

    @property
    def web_secret_path(self) -> Path:
        return Path(self.security.web_secret_file or self.data_path / "keys" / "web-secret")

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
    return path in (["security", "pii_keyring_file"], ["security", "web_secret_file"])


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
