"""The sandbox's stand-in for WeChat web OAuth (snsapi_base): the silent authorize redirect and the
code -> openid exchange, with WeChat's rules: a code is bound to the appid, good once, for 5 minutes.

Who the "WeChat user" is comes from a sandbox cookie, so one test browser is one user with one openid
per appid, and the JSAPI pay sheet can check that the payer is the user the order was made for.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit, urlunsplit

import httpx

from providers.wechatpay import oauth

USER_COOKIE = "wxsandbox_user"
_SCOPES = ("snsapi_base", "snsapi_userinfo")


@dataclass
class IssuedCode:
    appid: str
    openid: str
    scope: str
    expires_at: float
    used: bool = False


class SandboxOAuth:
    def __init__(
        self,
        *,
        appid: str,
        secret: str,
        allowed_host: str,
        cookie_path: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.appid = appid
        self.secret = secret
        # WeChat redirects only to the "网页授权域名" set for the official account; here, our own host.
        self.allowed_host = allowed_host
        self.cookie_path = cookie_path
        self.clock = clock
        self.codes: dict[str, IssuedCode] = {}
        self.issued: dict[str, str] = {}  # openid -> appid, every openid handed out
        self._salt = secrets.token_bytes(16)

    def openid_for(self, user: str, appid: str) -> str:
        """Stable per user and appid, like WeChat's: 28 characters starting with "o"."""
        digest = hmac.new(self._salt, f"{appid}|{user}".encode(), hashlib.sha256).digest()
        return "o" + base64.urlsafe_b64encode(digest).decode("ascii")[:27]

    def current_openid(self, request: httpx.Request, appid: str) -> str | None:
        user = user_of(request)
        return self.openid_for(user, appid) if user else None

    def knows(self, openid: str, appid: str) -> bool:
        return self.issued.get(openid) == appid

    # -- GET /connect/oauth2/authorize -------------------------------------------------------------

    def authorize(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        appid, redirect_uri = params.get("appid", ""), params.get("redirect_uri", "")
        scope, state = params.get("scope", ""), params.get("state", "")
        if appid != self.appid:
            return _error_page(10016, "appid 错误 unknown appid")
        if params.get("response_type") != "code":
            return _error_page(10004, "response_type 应为 code")
        if scope not in _SCOPES:
            return _error_page(10005, "此公众号并没有这些 scope 的权限 scope not allowed")
        target = urlsplit(redirect_uri)
        if target.scheme not in ("http", "https") or target.netloc != self.allowed_host or target.fragment:
            return _error_page(10003, "redirect_uri 域名与后台配置不一致 redirect_uri not allowed")
        if state and not oauth.STATE.fullmatch(state):
            return _error_page(10006, "state 参数错误 state must be letters and digits")
        user = user_of(request) or secrets.token_hex(8)
        openid = self.openid_for(user, appid)
        self.issued[openid] = appid
        code = secrets.token_urlsafe(24)
        self.codes[code] = IssuedCode(appid, openid, scope, self.clock() + oauth.CODE_TTL_SECONDS)
        query = urlencode({"code": code, "state": state})
        location = urlunsplit(
            (
                target.scheme,
                target.netloc,
                target.path,
                f"{target.query}&{query}" if target.query else query,
                "",
            )
        )
        headers = {"Location": location, "Cache-Control": "no-store"}
        headers["Set-Cookie"] = (
            f"{USER_COOKIE}={user}; Path={self.cookie_path}; HttpOnly; SameSite=Lax; Max-Age=31536000"
        )
        return httpx.Response(302, headers=headers)

    # -- GET /sns/oauth2/access_token ----------------------------------------------------------------

    def exchange(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        if params.get("appid") != self.appid:
            return _errcode(oauth.ERR_INVALID_APPID)
        if not hmac.compare_digest(params.get("secret", "").encode(), self.secret.encode()):
            return _errcode(oauth.ERR_INVALID_APPSECRET)
        if params.get("grant_type") != oauth.GRANT_TYPE:
            return _errcode(oauth.ERR_INVALID_GRANT_TYPE)
        issued = self.codes.get(params.get("code", ""))
        if issued is None or issued.appid != params.get("appid"):
            return _errcode(oauth.ERR_INVALID_CODE)
        if issued.used:
            return _errcode(oauth.ERR_CODE_USED)
        if self.clock() > issued.expires_at:
            return _errcode(oauth.ERR_CODE_EXPIRED)
        issued.used = True
        answer: oauth.AccessTokenAnswer = {
            "access_token": secrets.token_urlsafe(48),
            "expires_in": 7200,
            "refresh_token": secrets.token_urlsafe(48),
            "openid": issued.openid,
            "scope": issued.scope,
        }
        return _json(answer)


def user_of(request: httpx.Request) -> str | None:
    cookie = SimpleCookie()
    try:
        cookie.load(request.headers.get("cookie", ""))
    except Exception:  # a malformed Cookie header is "no user", as a browser would have it
        return None
    morsel = cookie.get(USER_COOKIE)
    value = morsel.value if morsel is not None else ""
    return value if len(value) == 16 and all(c in "0123456789abcdef" for c in value) else None


def _json(doc: object) -> httpx.Response:
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    return httpx.Response(
        200,
        content=body,
        headers={"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store"},
    )


def _errcode(errcode: int) -> httpx.Response:
    # WeChat answers 200 with the errcode in the body; a request id follows the message.
    answer: oauth.ErrorAnswer = {
        "errcode": errcode,
        "errmsg": f"{oauth.ERRMSG[errcode]}, rid: {secrets.token_hex(12)}",
    }
    return _json(answer)


def _error_page(errcode: int, message: str) -> httpx.Response:
    page = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1"><title>微信网页授权 沙箱</title>'
        "</head><body><h1>Oops! Something went wrong:(</h1>"
        f"<p>微信网页授权沙箱 WeChat OAuth sandbox: {escape(message)}</p><p>errcode {errcode}</p></body></html>"
    )
    return httpx.Response(
        400,
        content=page.encode(),
        headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"},
    )
