"""The sandbox cashier page: plain server-rendered HTML, no external assets, readable on a phone."""

from __future__ import annotations

from html import escape

from payments.domain.money import format_yuan
from providers.wechatpay.sandbox_store import TRADE_STATE_DESC, SandboxOrder

_STYLE = """
body{font-family:system-ui,-apple-system,"PingFang SC","Microsoft YaHei","Noto Sans CJK SC","WenQuanYi Micro Hei",sans-serif;
  margin:0;background:#ededed;color:#111}
main{max-width:28rem;margin:0 auto;padding:1rem}
.card{background:#fff;border-radius:.5rem;padding:1rem;margin-bottom:1rem}
.card>p:first-of-type{margin-top:0}
.amount{font-size:2.2rem;font-weight:600;text-align:center;margin:.5rem 0}
.en{color:#777;font-size:.8rem;display:block}
dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem .8rem;margin:0}
dt{color:#777}
dd{margin:0;overflow-wrap:anywhere}
button{width:100%;padding:.8rem;margin:.3rem 0;border:0;border-radius:.4rem;font-size:1rem;
  background:#07c160;color:#fff}
button .en{color:inherit;opacity:.85}
button.alt{background:#f2f2f2;color:#111}
input{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;margin:.3rem 0}
.note{background:#fff3cd;border-radius:.4rem;padding:.6rem}
"""

OUTCOME_BUTTONS = (
    ("pay", "支付成功", "Pay", ""),
    ("fail", "支付失败", "Fail (no notification, as on WeChat)", "alt"),
    ("twice", "重复支付", "Pay twice: two notifications, two transaction ids", "alt"),
    ("no_notify", "支付但不通知", "Pay, never notify", "alt"),
)


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body><main>{body}</main></body></html>"
    )


def render_cashier(
    order: SandboxOrder, action: str, redirect_url: str, message: str = "", via: str = ""
) -> str:
    state = order.trade_state
    rows = [
        ("商户 Merchant", f"微信支付沙箱商户 Sandbox merchant {order.mchid}"),
        ("商品 Subject", order.description),
        ("订单号 Order", order.out_trade_no),
        ("状态 State", f"{TRADE_STATE_DESC.get(state, state)} {state}"),
    ]
    details = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    parts = [
        '<div class="card"><h1 style="font-size:1.1rem;margin:0">微信支付 沙箱收银台'
        '<span class="en">WeChat Pay sandbox cashier (a test double, no real money)</span></h1>'
        + (f'<p class="en" id="via">{escape(via)}</p>' if via else "")
        + f'<p class="amount">¥{escape(format_yuan(order.total))}</p><dl>{details}</dl></div>'
    ]
    if message:
        parts.append(f'<p class="note">{escape(message)}</p>')
    if state == "NOTPAY":
        hidden = f'<input type="hidden" name="redirect_url" value="{escape(redirect_url)}">'
        buttons = "".join(
            f'<button class="{css}" name="outcome" value="{value}">{escape(zh)}'
            f'<span class="en">{escape(en)}</span></button>'
            for value, zh, en, css in OUTCOME_BUTTONS
        )
        parts.append(
            f'<form class="card" method="post" action="{escape(action)}">{hidden}'
            '<p>选择支付结果 <span class="en">Choose the outcome</span></p>'
            f"{buttons}</form>"
            f'<form class="card" method="post" action="{escape(action)}">{hidden}'
            '<label for="amount">支付其他金额（元）<span class="en">Pay a different amount (yuan)</span></label>'
            '<input id="amount" name="amount" inputmode="decimal" placeholder="0.01" required>'
            '<button class="alt" name="outcome" value="different_amount">按此金额支付'
            '<span class="en">Pay this amount</span></button></form>'
        )
        if via and redirect_url:
            # Closing WeChat's pay sheet leaves the payer on the merchant's page, unpaid.
            parts.append(
                f'<p class="card"><a id="cancel" href="{escape(redirect_url)}">取消支付'
                '<span class="en">Cancel: back to the merchant, unpaid</span></a></p>'
            )
    elif redirect_url:
        parts.append(
            f'<p class="card"><a href="{escape(redirect_url)}">返回商户页面 <span class="en">Back to the merchant</span></a></p>'
        )
    return _page("微信支付沙箱 WeChat Pay sandbox", "".join(parts))


def render_bridge_refused(reason: str) -> str:
    """What WeChat's pay sheet shows instead of paying when the page's bridge call is wrong."""
    return _page(
        "微信支付沙箱 WeChat Pay sandbox",
        '<div class="card"><h1 style="font-size:1.1rem;margin:0">微信支付 沙箱收银台'
        '<span class="en">WeChat Pay sandbox: getBrandWCPayRequest refused</span></h1>'
        f'<p class="note" id="refused">{escape(reason)}</p></div>',
    )


# Stands in for the WeixinJSBridge that WeChat's browser injects: getBrandWCPayRequest opens the
# sandbox's pay sheet by posting the page's parameters to it; the sheet sends the browser back after.
BRIDGE_SCRIPT = """// WeChat Pay sandbox: a stand-in for WeChat's WeixinJSBridge (test double, no real money).
(function () {
  if (window.WeixinJSBridge) { return; }
  var sheet = new URL("pay", document.currentScript.src).href;
  window.WeixinJSBridge = {
    invoke: function (name, params, callback) {
      if (name !== "getBrandWCPayRequest") {
        if (callback) { callback({ err_msg: name + ":fail" }); }
        return;
      }
      var form = document.createElement("form");
      form.method = "post";
      form.action = sheet;
      var fields = {};
      Object.keys(params || {}).forEach(function (k) { fields[k] = params[k]; });
      fields.redirect_url = window.location.href;
      Object.keys(fields).forEach(function (k) {
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = k;
        input.value = String(fields[k]);
        form.appendChild(input);
      });
      document.body.appendChild(form);
      form.submit();
    }
  };
  document.dispatchEvent(new Event("WeixinJSBridgeReady"));
})();
"""


def render_missing() -> str:
    return _page(
        "微信支付沙箱 WeChat Pay sandbox",
        '<div class="card"><p>订单不存在或链接已失效<span class="en">No such order, or the link has expired</span></p></div>',
    )
