"""The pay page's words in Simplified Chinese (default) and English."""

from __future__ import annotations

LANGS = ("zh", "en")

STRINGS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "在线还款",
        "neutral_title": "链接不可用",
        "neutral_body": "此还款链接无效或已失效。如需还款，请联系向您发送链接的机构获取新的链接。",
        "verify_title": "身份验证",
        "verify_id_number": "为保护您的信息，请输入身份证号码的后 4 位。",
        "verify_phone": "为保护您的信息，请输入预留手机号码的后 4 位。",
        "last4": "后 4 位",
        "continue": "继续",
        "wrong": "输入有误，还可尝试 {left} 次。",
        "locked_title": "已暂时锁定",
        "locked_body": "输入错误次数过多，此链接已锁定 30 分钟，请稍后再试。",
        "creditor": "债权机构",
        "borrower": "借款人",
        "due": "应还金额",
        "principal": "本金",
        "interest": "利息",
        "fees": "费用",
        "total": "合计",
        "due_date": "最早到期日",
        "amount": "本次还款金额（元）",
        "amount_range": "可输入 {min} 至 {max} 元",
        "amount_fixed": "本次需还 {amount} 元",
        "amount_invalid": "请输入 {min} 至 {max} 元之间的金额。",
        "channel_unavailable": "此链接不支持该支付方式，请选择其他方式。",
        "provider_unavailable": "支付渠道暂时不可用，请稍后再试或选择其他支付方式。",
        "choose_channel": "选择支付方式",
        "alipay": "支付宝",
        "wechatpay": "微信支付",
        "bankcard": "银行卡",
        "nothing_due": "此链接当前没有需要支付的金额。",
        "scan": "请使用{channel}扫描二维码完成支付",
        "waiting": "正在等待支付结果……页面会自动刷新。",
        "paid_title": "还款成功",
        "receipt": "还款凭证",
        "paid_amount": "还款金额",
        "paid_time": "支付时间",
        "reference": "交易参考号",
        "channel": "支付方式",
        "remaining": "剩余应还",
        "print": "打印凭证",
        "back": "返回",
        "failed_title": "支付未完成",
        "failed_body": "此笔支付已关闭或失败，未扣款。您可以返回重新支付。",
        "card_redirect": "即将前往银行卡支付页面。卡号仅在银行页面填写，本网站不会收到您的卡号。",
        "go_to_bank": "前往银行页面",
        "error_title": "操作未完成",
        "lang_switch": "English",
        "footer": "请勿向任何人透露验证码。本页面不会索取您的银行卡密码。",
    },
    "en": {
        "title": "Repayment",
        "neutral_title": "Link unavailable",
        "neutral_body": "This repayment link is not valid. To pay, ask the organisation that sent it for a new link.",
        "verify_title": "Identity check",
        "verify_id_number": "To protect your data, enter the last 4 characters of your ID number.",
        "verify_phone": "To protect your data, enter the last 4 digits of your registered mobile number.",
        "last4": "Last 4",
        "continue": "Continue",
        "wrong": "That is not right. {left} tries left.",
        "locked_title": "Temporarily locked",
        "locked_body": "Too many wrong answers: this link is locked for 30 minutes. Please try again later.",
        "creditor": "Creditor",
        "borrower": "Borrower",
        "due": "Amount due",
        "principal": "Principal",
        "interest": "Interest",
        "fees": "Fees",
        "total": "Total",
        "due_date": "Earliest due date",
        "amount": "Amount to pay now (yuan)",
        "amount_range": "From {min} to {max} yuan",
        "amount_fixed": "Pay {amount} yuan now",
        "amount_invalid": "Enter an amount from {min} to {max} yuan.",
        "channel_unavailable": "This link does not offer that payment method; choose another.",
        "provider_unavailable": "The payment service is unavailable right now; try again later or choose another method.",
        "choose_channel": "Pay with",
        "alipay": "Alipay",
        "wechatpay": "WeChat Pay",
        "bankcard": "Bank card",
        "nothing_due": "Nothing is payable through this link now.",
        "scan": "Scan the QR code with {channel} to pay",
        "waiting": "Waiting for the payment result… this page refreshes by itself.",
        "paid_title": "Payment received",
        "receipt": "Receipt",
        "paid_amount": "Amount paid",
        "paid_time": "Paid at",
        "reference": "Reference",
        "channel": "Paid with",
        "remaining": "Still due",
        "print": "Print receipt",
        "back": "Back",
        "failed_title": "Payment not completed",
        "failed_body": "This payment was closed or failed; nothing was charged. You can go back and pay again.",
        "card_redirect": "You are going to the bank's card page. Card details are entered there only; this site never receives your card number.",
        "go_to_bank": "Go to the bank page",
        "error_title": "Not completed",
        "lang_switch": "中文",
        "footer": "Never share verification codes. This page never asks for your card PIN.",
    },
}


def pick_language(query_lang: str | None, cookie_lang: str | None, accept_language: str) -> str:
    for candidate in (query_lang, cookie_lang):
        if candidate in LANGS:
            return candidate  # type: ignore[return-value]
    # Accept-Language in order of preference; the first of ours that appears wins.
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("en"):
            return "en"
        if tag.startswith("zh"):
            return "zh"
    return "zh"
