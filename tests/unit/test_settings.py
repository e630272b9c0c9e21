"""Settings: environment and TOML, secrets from files, one clear line for a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from payments.services.rails import build_rails
from payments.settings import SettingsError, load_settings


def test_defaults_are_the_embedded_sandbox():
    s = load_settings({})
    assert (s.mode, s.database.url, s.server.port) == ("sandbox", "", 8000)


def test_nested_environment_variables_set_nested_settings():
    s = load_settings({"PAYRECON_SERVER__PORT": "9000", "PAYRECON_DATABASE__URL": "postgresql+asyncpg://x/y"})
    assert (s.server.port, s.database.url) == (9000, "postgresql+asyncpg://x/y")


def test_a_secret_can_come_from_a_file(tmp_path: Path):
    secret = tmp_path / "key.pem"
    secret.write_text("-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n")
    s = load_settings({"PAYRECON_PROVIDERS__ALIPAY__APP_PRIVATE_KEY_FILE": str(secret)})
    assert s.providers.alipay.app_private_key.startswith("-----BEGIN PRIVATE KEY-----")


def test_an_unreadable_secret_file_names_the_variable(tmp_path: Path):
    with pytest.raises(SettingsError, match="PAYRECON_PROVIDERS__ALIPAY__APP_PRIVATE_KEY_FILE"):
        load_settings({"PAYRECON_PROVIDERS__ALIPAY__APP_PRIVATE_KEY_FILE": str(tmp_path / "missing")})


def test_a_malformed_value_names_the_variable():
    with pytest.raises(SettingsError, match="PAYRECON_SERVER__PORT"):
        load_settings({"PAYRECON_SERVER__PORT": "eighty"})


def test_an_unknown_setting_is_refused():
    with pytest.raises(SettingsError, match="unknown"):
        load_settings({"PAYRECON_SERVER__PROT": "80"})


def test_a_toml_file_is_read_and_the_environment_wins(tmp_path: Path):
    config = tmp_path / "payrecon.toml"
    config.write_text('mode = "sandbox"\n[server]\nport = 7000\nhost = "0.0.0.0"\n')
    s = load_settings({"PAYRECON_CONFIG": str(config), "PAYRECON_SERVER__PORT": "7001"})
    assert (s.server.host, s.server.port) == ("0.0.0.0", 7001)  # noqa: S104 - a value read back, not a bind


def test_live_mode_without_provider_keys_names_the_missing_setting():
    s = load_settings({"PAYRECON_MODE": "live"})
    with pytest.raises(SettingsError, match="PAYRECON_PROVIDERS__ALIPAY__APP_ID"):
        build_rails(s)


def test_live_mode_with_only_disabled_rails_builds_no_provider():
    s = load_settings({"PAYRECON_MODE": "live", "PAYRECON_PROVIDERS__ALIPAY__ENABLED": "false",
                       "PAYRECON_PROVIDERS__WECHATPAY__ENABLED": "false",
                       "PAYRECON_PROVIDERS__BANKCARD__ENABLED": "false"})
    assert build_rails(s).providers == {}
