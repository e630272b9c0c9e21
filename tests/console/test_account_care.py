"""Looking after staff accounts: disabling ends sessions at once, a password reset lifts a lockout,
TOTP can be reissued; each change is audited."""

from __future__ import annotations

from click.testing import CliRunner

from payments.cli import main
from payments.services.container import Services
from tests.console.conftest import NewBrowser, accounts, add_staff, audit_count, logged_in, login

NEW_PASSWORD = "another long passphrase 42"


async def test_disabling_a_user_ends_their_open_session_and_refuses_logins(
    services: Services, new_browser: NewBrowser, tenant
) -> None:
    user = await add_staff(services, "clerk", tenant.client_id)
    browser = await logged_in(new_browser, user)

    await accounts(services).disable_user(user.username, actor="test")

    assert (await browser.get("/console/queue")).status_code == 303  # back to the login page
    assert (await login(await new_browser(), user)).status_code == 401
    assert await audit_count(services, "staff.disabled", user.user_id) == 1


async def test_enabling_a_disabled_user_lets_them_log_in_again(
    services: Services, new_browser: NewBrowser, tenant
) -> None:
    user = await add_staff(services, "clerk", tenant.client_id)
    await accounts(services).disable_user(user.username, actor="test")

    await accounts(services).enable_user(user.username, actor="test")

    assert (await login(await new_browser(), user)).status_code == 303


async def test_a_password_reset_lifts_a_lockout_and_only_the_new_password_works(
    services: Services, new_browser: NewBrowser, tenant
) -> None:
    user = await add_staff(services, "clerk", tenant.client_id)
    for _ in range(5):
        await login(await new_browser(), user, password="wrong password 123")

    await accounts(services).reset_password(user.username, NEW_PASSWORD, actor="test")

    assert (await login(await new_browser(), user)).status_code == 401
    assert (await login(await new_browser(), user, password=NEW_PASSWORD)).status_code == 303


async def test_reissuing_totp_returns_a_new_secret_and_turning_it_off_returns_none(
    services: Services, tenant
) -> None:
    user = await add_staff(services, "clerk", tenant.client_id, totp=True)

    fresh = await accounts(services).reset_totp(user.username, enable=True, actor="test")
    off = await accounts(services).reset_totp(user.username, enable=False, actor="test")

    assert fresh and fresh != user.totp_secret
    assert off is None
    assert await audit_count(services, "staff.totp_reset", user.user_id) == 2


def test_the_staff_commands_add_disable_and_reset_a_user(tmp_path) -> None:
    runner = CliRunner(
        env={
            "PAYRECON_DATABASE__URL": None,
            "PAYRECON_TEST_DATABASE_URL": None,
            "PAYRECON_DATA_DIR": str(tmp_path),
        }
    )
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    secret = tmp_path / "pw"
    secret.write_text(NEW_PASSWORD + "\n")

    added = runner.invoke(
        main, ["staff", "add", "carol", "--role", "approver", "--password-file", str(secret)]
    )
    disabled = runner.invoke(main, ["staff", "disable", "carol"])
    reset = runner.invoke(main, ["staff", "reset-totp", "carol"])
    unknown = runner.invoke(main, ["staff", "disable", "nobody"])

    assert added.exit_code == 0 and "carol (approver, all clients)" in added.output, added.output
    assert disabled.exit_code == 0 and "disabled; open sessions ended" in disabled.output
    assert reset.exit_code == 0 and "TOTP secret (shown once):" in reset.output
    assert unknown.exit_code == 1 and "no staff user 'nobody'" in unknown.output
