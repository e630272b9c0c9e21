"""`payrecon recon account` and `payrecon recon import` on the embedded default database: a GBK bank
export becomes payments, matched or queued for review; importing it again adds nothing."""

from __future__ import annotations

import re

from click.testing import CliRunner

from payments.cli import main

_ENV: dict[str, str | None] = {"PAYRECON_DATABASE__URL": None, "PAYRECON_TEST_DATABASE_URL": None}

# A made-up export in the debit/credit layout: preamble, header, two credits and a debit, a footer.
EXPORT = (
    "账户名称,测试催收专户\n"
    "账号,6222000000000001234\n"
    "交易日期,交易时间,借方发生额,贷方发生额,对方户名,对方账号,摘要,用途,交易流水号\n"
    "2026-11-27,10:15:00,,\"1,500.00\",测试甲,6222000000000009876,还款,HT-1,SN0001\n"
    "2026-11-27,11:00:00,,33.33,测试乙,6222000000000005555,货款,,SN0002\n"
    "2026-11-27,15:30:00,200.00,,测试丙,6222000000000004444,手续费,,SN0003\n"
    "合计,,200.00,\"1,533.33\",,,,,\n"
).encode("gbk")


def _runner(tmp_path) -> CliRunner:
    runner = CliRunner(env=_ENV | {"PAYRECON_DATA_DIR": str(tmp_path)})
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(main, ["recon", "account", "CNY-MAIN", "--client", "Demo Lender", "--tail", "1234"])
    assert result.exit_code == 0, result.output
    return runner


def test_importing_a_gbk_export_turns_its_credits_into_payments(tmp_path):
    runner = _runner(tmp_path)
    path = tmp_path / "statement.csv"
    path.write_bytes(EXPORT)

    result = runner.invoke(main, ["recon", "import", str(path), "--account", "CNY-MAIN", "--preset", "debit_credit_columns"])

    assert result.exit_code == 0, result.output
    assert "3 lines (csv), 3 new, 0 already imported; 2 credits (153333 fen), 1 debits (20000 fen)" in result.output
    assert re.search(r"'review': 2", result.output)  # no cases exist: both go to review


def test_importing_the_same_file_twice_adds_nothing(tmp_path):
    runner = _runner(tmp_path)
    path = tmp_path / "statement.csv"
    path.write_bytes(EXPORT)
    runner.invoke(main, ["recon", "import", str(path), "--account", "CNY-MAIN", "--preset", "debit_credit_columns"])

    again = runner.invoke(main, ["recon", "import", str(path), "--account", "CNY-MAIN", "--preset", "debit_credit_columns"])

    assert again.exit_code == 0, again.output
    assert "3 new" not in again.output and "0 new, 3 already imported; 0 credits" in again.output


def test_importing_for_an_unknown_account_fails_and_stores_nothing(tmp_path):
    runner = _runner(tmp_path)
    path = tmp_path / "statement.csv"
    path.write_bytes(EXPORT)

    result = runner.invoke(main, ["recon", "import", str(path), "--account", "NOPE", "--preset", "debit_credit_columns"])

    assert result.exit_code == 2
    assert "no bank account with code 'NOPE'" in result.output


def test_importing_an_unreadable_file_names_the_problem_without_quoting_it(tmp_path):
    runner = _runner(tmp_path)
    path = tmp_path / "statement.csv"
    path.write_bytes("交易日期,金额\n2026-11-27,abc\n".encode("gbk"))

    result = runner.invoke(main, ["recon", "import", str(path), "--account", "CNY-MAIN", "--preset", "debit_credit_columns"])

    assert result.exit_code == 2
    assert "payrecon:" in result.output and "Traceback" not in result.output


def test_a_file_for_another_account_is_refused(tmp_path):
    runner = _runner(tmp_path)
    path = tmp_path / "statement.csv"
    path.write_bytes(EXPORT.replace(b"6222000000000001234", b"6222000000000007777"))

    result = runner.invoke(main, ["recon", "import", str(path), "--account", "CNY-MAIN", "--preset", "debit_credit_columns"])

    assert result.exit_code == 2, result.output
    assert "another account" in result.output
