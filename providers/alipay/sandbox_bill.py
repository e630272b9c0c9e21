"""The sandbox's daily business bill, built the way Alipay ships it (providers.md 1.7).

A zip holding `{PID}0156_{yyyyMMdd}_业务明细.csv` and `…_业务明细(汇总).csv`, both GBK, with GBK entry
names and no UTF-8 flag; identifier cells end in a tab.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from payments.domain.money import format_yuan
from providers.base import BEIJING

HEADER = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,"
    "订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,"
    "券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"
)
SUMMARY_HEADER = (
    "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,"
    "卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）"
)
_TIME = "%Y-%m-%d %H:%M:%S"
_CN_TIME = "%Y年%m月%d日 %H:%M:%S"
_DASHES = "-" * 41


@dataclass(frozen=True, slots=True)
class BillRow:
    trade_no: str
    out_trade_no: str
    kind: str  # "交易" | "退款"
    subject: str
    created: datetime
    finished: datetime
    buyer: str
    amount_fen: int  # signed from the merchant's side: negative on refund rows
    fee_fen: int  # signed the same way: a charge is negative, a returned fee positive
    refund_no: str = ""


class _GbkName(zipfile.ZipInfo):
    """Writes the entry name as GBK bytes without the UTF-8 flag, as Alipay's bill zips do."""

    __slots__ = ()

    # Overrides zipfile's private hook; the only way to write non-UTF-8 names with the stdlib.
    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


def _cell(text: str) -> str:
    # Bills are split on commas; the sandbox keeps free text from breaking a row.
    return text.replace(",", "，").replace('"', "'").replace("\r", " ").replace("\n", " ")


def _row_line(row: BillRow) -> str:
    cells = [
        row.trade_no + "\t",
        row.out_trade_no + "\t",
        row.kind + "\t",
        _cell(row.subject),
        row.created.astimezone(BEIJING).strftime(_TIME),
        row.finished.astimezone(BEIJING).strftime(_TIME),
        "\t",
        "\t",
        "\t",
        "\t",
        row.buyer + "\t",
        format_yuan(row.amount_fen),
        format_yuan(row.amount_fen),
        "0.00",
        "0.00",
        "0.00",
        "0.00",
        "0.00",
        "",
        "0.00\t",
        "0.00",
        row.refund_no + "\t",
        format_yuan(row.fee_fen),
        "0.00",
        _cell(row.subject),
    ]
    return ",".join(cells)


def _preamble(title: str, account: str, day: date) -> list[str]:
    start = datetime(day.year, day.month, day.day, tzinfo=BEIJING)
    end = start + timedelta(days=1)
    return [
        f"#支付宝{title}查询",
        f"#账号：[{account}]",
        f"#起始日期：[{start.strftime(_CN_TIME)}]   终止日期：[{end.strftime(_CN_TIME)}]",
        f"#{_DASHES}{title}列表{_DASHES}",
    ]


def build_bill_zip(pid: str, day: date, rows: list[BillRow], exported_at: datetime) -> bytes:
    account = pid + "0156"
    payments = [r for r in rows if r.kind == "交易"]
    refunds = [r for r in rows if r.kind == "退款"]
    exported = exported_at.astimezone(BEIJING).strftime(_CN_TIME)
    detail = [
        *_preamble("业务明细", account, day),
        HEADER,
        *(_row_line(r) for r in sorted(rows, key=lambda r: (r.finished, r.kind != "交易"))),
        f"#{_DASHES}业务明细列表结束{_DASHES[:-5]}",
        f"#交易合计：{len(payments)}笔，商家实收共{format_yuan(sum(r.amount_fen for r in payments))}元，"
        "商家优惠共0.00元",
        f"#退款合计：{len(refunds)}笔，商家实收退款共{format_yuan(sum(r.amount_fen for r in refunds))}元，"
        "商家优惠退款共0.00元",
        f"#导出时间：[{exported}]",
    ]
    net = sum(r.amount_fen for r in rows)
    fees = sum(r.fee_fen for r in rows)
    summary = [
        *_preamble("业务汇总", account, day),
        SUMMARY_HEADER,
        f"合计,,{len(payments)},{len(refunds)},{format_yuan(net)},{format_yuan(net)},0.00,0.00,0.00,"
        f"{format_yuan(fees)},0.00,{format_yuan(net + fees)}",
        f"#{_DASHES}业务汇总列表结束{_DASHES[:-5]}",
        f"#导出时间：[{exported}]",
    ]
    stem = f"{account}_{day.strftime('%Y%m%d')}"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, lines in ((f"{stem}_业务明细.csv", detail), (f"{stem}_业务明细(汇总).csv", summary)):
            info = _GbkName(name, date_time=exported_at.astimezone(BEIJING).timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, ("\r\n".join(lines) + "\r\n").encode("gbk", errors="replace"))
    return buffer.getvalue()
