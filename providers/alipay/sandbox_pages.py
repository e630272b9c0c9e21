"""Server-rendered pages of the Alipay sandbox cashier: no scripts, no external assets, phone-sized."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

_STYLE = """
body{margin:0;font-family:-apple-system,"PingFang SC","Microsoft YaHei","WenQuanYi Micro Hei",sans-serif;
background:#f5f5f5;color:#333}
header{background:#1677ff;color:#fff;padding:14px 16px;font-size:18px}
header small{display:block;font-size:12px;opacity:.85}
main{max-width:480px;margin:0 auto;padding:16px}
.card{background:#fff;border-radius:8px;padding:16px;margin-bottom:12px}
.amount{font-size:34px;font-weight:600;text-align:center;margin:8px 0}
.row{display:flex;justify-content:space-between;padding:6px 0;border-bottom:1px solid #eee;font-size:14px}
.row>span:first-child{flex-shrink:0;white-space:nowrap}
.row>span:last-child{text-align:right;overflow-wrap:anywhere;margin-left:12px}
.en{color:#888;font-size:12px}
button .en{color:inherit;opacity:.8}
.code{display:block;color:#888;font-size:12px}
form{margin:0 0 10px}
button{width:100%;padding:13px;font-size:16px;border:0;border-radius:6px;background:#1677ff;color:#fff}
button.alt{background:#fff;color:#1677ff;border:1px solid #1677ff}
button.warn{background:#fff;color:#d4380d;border:1px solid #d4380d}
input{width:100%;box-sizing:border-box;padding:11px;font-size:16px;margin-bottom:8px;border:1px solid #ccc;
border-radius:6px}
.status{text-align:center;font-size:16px;padding:8px}
.error{color:#d4380d}
"""

# (outcome, label, English subtitle, button class)
OUTCOMES = (
    ("pay", "确认付款", "Pay", ""),
    ("fail", "付款失败", "Payment fails (trade closed)", "warn"),
    ("twice", "重复付款", "Pay twice (two trades, two notifications)", "alt"),
    ("no_notify", "付款但不通知", "Pay, but never notify the merchant", "alt"),
)


@dataclass(frozen=True, slots=True)
class CashierView:
    merchant: str
    app_id: str
    subject: str
    out_trade_no: str
    amount_yuan: str
    status: str  # the trade status, e.g. WAIT_BUYER_PAY
    status_text: str  # human words for it
    action_url: str  # where the outcome forms POST
    payable: bool
    message: str = ""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        "<header>支付宝 沙箱收银台<small>Alipay sandbox cashier: no real money moves</small></header>"
        f"<main>{body}</main></body></html>"
    )


def _row(label: str, english: str, value: str) -> str:
    return (
        f'<div class="row"><span>{escape(label)} <span class="en">{escape(english)}</span></span>'
        f"<span>{escape(value)}</span></div>"
    )


def _status_row(text: str, code: str) -> str:
    return (
        '<div class="row"><span>状态 <span class="en">Status</span></span>'
        f'<span>{escape(text)}<span class="code">{escape(code)}</span></span></div>'
    )


def cashier(view: CashierView) -> str:
    parts = [
        '<div class="card">',
        f'<div class="amount">¥{escape(view.amount_yuan)}</div>',
        _row("收款方", "Merchant", f"{view.merchant} ({view.app_id})"),
        _row("商品", "Subject", view.subject),
        _row("商户订单号", "Order no.", view.out_trade_no),
        _status_row(view.status_text, view.status),
        "</div>",
    ]
    if view.message:
        parts.append(f'<div class="card status error">{escape(view.message)}</div>')
    if view.payable:
        action = escape(view.action_url, quote=True)
        parts.append('<div class="card">')
        for outcome, label, english, css in OUTCOMES:
            parts.append(
                f'<form method="post" action="{action}"><input type="hidden" name="outcome" value="{outcome}">'
                f'<button class="{css}" type="submit">{escape(label)}<br>'
                f'<span class="en">{escape(english)}</span></button></form>'
            )
        parts.append(
            f'<form method="post" action="{action}"><input type="hidden" name="outcome" value="other_amount">'
            '<input name="amount" inputmode="decimal" placeholder="其他金额（元） Different amount, yuan" required>'
            '<button class="alt" type="submit">支付其他金额<br><span class="en">Pay a different amount</span>'
            "</button></form>"
        )
        parts.append("</div>")
    return _page(f"支付宝收银台 {view.out_trade_no}", "".join(parts))


def error(code: str, sub_code: str, message: str) -> str:
    body = (
        '<div class="card"><div class="status error">支付请求出错 <span class="en">Payment request rejected'
        f"</span></div>{_row('错误码', 'Code', code)}{_row('子错误码', 'Sub code', sub_code)}"
        f"{_row('说明', 'Message', message)}</div>"
    )
    return _page("支付宝 出错了", body)


def not_found() -> str:
    return _page(
        "支付宝 未找到", '<div class="card status error">页面不存在 <span class="en">Not found</span></div>'
    )
