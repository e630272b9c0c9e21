"""WeChat web OAuth for an official account (snsapi_base, silent): the authorize URL the browser is
sent to, and the answer of the code -> openid exchange. Pure, apart from the log filter at the end.

The code, the AppSecret and the openid must never reach a log or a URL of ours: the exchange carries
the first two in its query string, so httpx's request log line is scrubbed (see `RedactOAuthQuery`).
"""

from __future__ import annotations

import json
import logging
import re
from typing import NotRequired, TypedDict
from urllib.parse import quote

PATH_ACCESS_TOKEN = "/sns/oauth2/access_token"  # noqa: S105  (a path, not a secret)
SCOPE_BASE = "snsapi_base"
GRANT_TYPE = "authorization_code"
CODE_TTL_SECONDS = 300  # WeChat: a code is good for one exchange within 5 minutes
# WeChat keeps `state` to 128 characters of [a-zA-Z0-9]; anything else it may mangle.
STATE = re.compile(r"[A-Za-z0-9]{1,128}")
# A code is opaque; the bound only keeps junk from being forwarded.
CODE = re.compile(r"[A-Za-z0-9_-]{1,128}")

# errcodes the exchange answers with (WeChat's "全局返回码" for web OAuth).
ERR_SYSTEM_BUSY = -1
ERR_INVALID_APPSECRET = 40125
ERR_INVALID_GRANT_TYPE = 40002
ERR_INVALID_APPID = 40013
ERR_INVALID_CODE = 40029
ERR_CODE_USED = 40163
ERR_CODE_EXPIRED = 42003
ERRMSG = {
    ERR_SYSTEM_BUSY: "system error",
    ERR_INVALID_APPSECRET: "invalid appsecret",
    ERR_INVALID_GRANT_TYPE: "invalid grant_type",
    ERR_INVALID_APPID: "invalid appid",
    ERR_INVALID_CODE: "invalid code",
    ERR_CODE_USED: "code been used",
    ERR_CODE_EXPIRED: "code expired",
}
RETRYABLE = frozenset({ERR_SYSTEM_BUSY})


class AccessTokenAnswer(TypedDict):
    access_token: str
    expires_in: int
    refresh_token: NotRequired[str]
    openid: str
    scope: str
    is_snapshotuser: NotRequired[int]
    unionid: NotRequired[str]


class ErrorAnswer(TypedDict):
    errcode: int
    errmsg: str


class OAuthRefused(Exception):
    """WeChat refused the exchange; `errcode` is WeChat's number (0 when the answer was unreadable)."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


def authorize_url(base: str, appid: str, redirect_uri: str, state: str, scope: str = SCOPE_BASE) -> str:
    """The page WeChat's browser is sent to. WeChat reads the parameters in this order only, and
    needs the `#wechat_redirect` fragment, so the URL is written out rather than url-encoded as a dict."""
    if not STATE.fullmatch(state):
        raise ValueError("state must be 1 to 128 letters and digits")
    return (
        f"{base}?appid={quote(appid, safe='')}&redirect_uri={quote(redirect_uri, safe='')}"
        f"&response_type=code&scope={scope}&state={state}#wechat_redirect"
    )


def token_params(appid: str, secret: str, code: str) -> dict[str, str]:
    return {"appid": appid, "secret": secret, "code": code, "grant_type": GRANT_TYPE}


def openid_from_answer(raw: bytes) -> str:
    """The openid in an exchange answer. Raises OAuthRefused for WeChat's errcode JSON and for
    anything that is not a well-formed answer (WeChat answers HTTP 200 either way)."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise OAuthRefused(0, "answer is not JSON") from None
    if not isinstance(doc, dict):
        raise OAuthRefused(0, "answer is not a JSON object")
    errcode = doc.get("errcode", 0)
    if errcode:
        message = doc.get("errmsg")
        code = errcode if type(errcode) is int else 0
        raise OAuthRefused(code, message[:200] if isinstance(message, str) else "")
    openid = doc.get("openid")
    if not isinstance(openid, str) or not openid or len(openid) > 128:
        raise OAuthRefused(0, "answer has no openid")
    return openid


# -- keeping the exchange's query string out of logs --------------------------------------------

_SECRET_PARAM = re.compile(r"(?<=[?&])(secret|code|openid|access_token|refresh_token)=[^&#\s\"']*")


def redact_query(text: str) -> str:
    return _SECRET_PARAM.sub(r"\1=***", text)


class RedactOAuthQuery(logging.Filter):
    """httpx logs every request's full URL at INFO; the exchange's URL holds the AppSecret and the code."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                redact_query(str(arg)) if PATH_ACCESS_TOKEN in str(arg) else arg for arg in record.args
            )
        return True


def install_log_redaction(logger_name: str = "httpx") -> None:
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactOAuthQuery) for f in logger.filters):
        logger.addFilter(RedactOAuthQuery())
