"""Server-rendered pages of the bank card sandbox: the hosted card page and the error page.

No external assets, readable on a phone, Chinese with English subtitles. Every value is escaped.
The card inputs are a prop: the form posts them to the sandbox, which discards them unread.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from payments.domain.money import format_yuan

_STYLE = """
body{font-family:system-ui,"PingFang SC","Microsoft YaHei","Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;margin:0;background:#f3f4f6;color:#111}
main{max-width:28rem;margin:0 auto;padding:1rem}
.card{background:#fff;border-radius:.75rem;padding:1rem;margin-bottom:1rem;box-shadow:0 1px 3px #0002}
h1{font-size:1.2rem;margin:.2rem 0}
form h1:not(:first-child){margin-top:1.2rem}
small,.en{color:#666;font-size:.8rem}
.amount{font-size:2rem;font-weight:700;margin:.5rem 0}
dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem .8rem;margin:0}
dt{color:#555}dd{margin:0;overflow-wrap:anywhere}
label{display:block;margin:.6rem 0 .2rem}
input{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;border:1px solid #ccc;border-radius:.4rem}
button{display:block;width:100%;padding:.8rem;margin:.5rem 0;font-size:1rem;border:0;border-radius:.5rem;
background:#c8102e;color:#fff}
button.alt{background:#374151}
button small{color:inherit;opacity:.85}
.warn{background:#fff7ed;border:1px solid #fdba74;padding:.6rem;border-radius:.5rem}
"""


@dataclass(frozen=True, slots=True)
class CashierView:
    mer_id: str
    order_id: str
    amount_fen: int
    subject: str
    pay_timeout: str  # display text, may be empty
    action_path: str  # where the outcome form posts
    status: str  # "created" | "failed" | "paid" | "expired"


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def cashier_page(view: CashierView) -> str:
    details = (
        '<div class="card"><small>银联在线支付（沙箱） · UnionPay online payment (sandbox)</small>'
        f'<div class="amount">¥{escape(format_yuan(view.amount_fen))}</div>'
        "<dl>"
        f"<dt>商户 <span class=en>Merchant</span></dt><dd>{escape(view.mer_id)}</dd>"
        f"<dt>商品 <span class=en>Subject</span></dt><dd>{escape(view.subject or '—')}</dd>"
        f"<dt>订单号 <span class=en>Order</span></dt><dd>{escape(view.order_id)}</dd>"
        f"<dt>支付期限 <span class=en>Pay by</span></dt><dd>{escape(view.pay_timeout or '—')}</dd>"
        "</dl></div>"
    )
    if view.status in ("paid", "expired"):
        note = (
            "订单已支付 <span class=en>This order is paid.</span>"
            if view.status == "paid"
            else "订单已超时 <span class=en>This order has expired.</span>"
        )
        return _page("银联支付 UnionPay", details + f'<div class="card warn">{note}</div>')
    failed = (
        '<p class="warn">上次支付失败，可重试 <span class=en>The last attempt failed; try again.</span></p>'
        if view.status == "failed"
        else ""
    )
    form = (
        f'<form class="card" method="post" action="{escape(view.action_path)}">{failed}'
        "<h1>银行卡信息 <small>Card details</small></h1>"
        '<p class="warn">沙箱：卡号不会发送给商户，也不会被保存。'
        "<span class=en>Sandbox: the card data goes nowhere, not even to the merchant.</span></p>"
        "<label>卡号 <span class=en>Card number</span>"
        '<input name="cardNo" inputmode="numeric" autocomplete="off" placeholder="6216 6100 0000 0000"></label>'
        "<label>有效期 <span class=en>Expiry (MMYY)</span>"
        '<input name="expired" inputmode="numeric" autocomplete="off"></label>'
        '<label>CVN2<input name="cvn2" inputmode="numeric" autocomplete="off"></label>'
        "<h1>选择结果 <small>Pick the outcome</small></h1>"
        '<button name="outcome" value="pay">支付成功 <small>Pay</small></button>'
        '<button class="alt" name="outcome" value="fail">支付失败 <small>Fail</small></button>'
        '<button class="alt" name="outcome" value="twice">支付两次 <small>Pay twice (two notifications)</small></button>'
        '<button class="alt" name="outcome" value="silent">支付但不通知 <small>Pay, never notify</small></button>'
        "<label>其他金额（元） <span class=en>Different amount (yuan)</span>"
        '<input name="amount" inputmode="decimal" placeholder="0.01"></label>'
        '<button class="alt" name="outcome" value="amount">按此金额支付 <small>Pay this amount</small></button>'
        "</form>"
    )
    return _page("银联支付 UnionPay", details + form)


def error_page(resp_code: str, message: str, english: str) -> str:
    body = (
        '<div class="card"><h1>交易失败 <small>Transaction refused</small></h1>'
        f"<p>{escape(message)}<br><span class=en>{escape(english)}</span></p>"
        f"<p><small>respCode={escape(resp_code)}</small></p></div>"
    )
    return _page("银联支付 UnionPay", body)
