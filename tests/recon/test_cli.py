"""`payrecon recon run`: the statement check on demand, against a fresh embedded database."""

from __future__ import annotations

from click.testing import CliRunner

from payments.cli import main
from tests.recon.conftest import today

# The embedded default database in the data folder, whatever the test run itself uses.
_ENV: dict[str, str | None] = {"PAYRECON_DATABASE__URL": None, "PAYRECON_TEST_DATABASE_URL": None}


def test_recon_run_dry_run_checks_every_rail_and_says_it_wrote_nothing(tmp_path):
    runner = CliRunner(env=_ENV | {"PAYRECON_DATA_DIR": str(tmp_path)})
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0

    result = runner.invoke(main, ["recon", "run", "--day", today().isoformat(), "--dry-run"])

    assert result.exit_code == 0, result.output
    for rail in ("alipay", "wechatpay", "bankcard"):
        assert f"{rail} {today().isoformat()} (dry run, nothing written): 0 lines" in result.output


def test_recon_run_refuses_a_rail_that_is_not_enabled(tmp_path):
    runner = CliRunner(env=_ENV | {"PAYRECON_DATA_DIR": str(tmp_path)})
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0

    result = runner.invoke(main, ["recon", "run", "--provider", "paypal"])

    assert result.exit_code == 2
    assert "no enabled rail paypal" in result.output


def test_recon_run_also_reports_the_matching_of_payments_without_our_reference(tmp_path):
    runner = CliRunner(env=_ENV | {"PAYRECON_DATA_DIR": str(tmp_path)})
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0

    result = runner.invoke(main, ["recon", "run", "--day", today().isoformat(), "--dry-run"])

    assert result.exit_code == 0, result.output
    assert "matching (dry run, nothing written): {'clients': 0, 'payments': 0" in result.output
