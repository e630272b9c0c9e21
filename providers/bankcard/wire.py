"""UnionPay ACP 5.1.0 wire vocabulary: field names, code values and the two message encodings.

Requests and back notifications travel as application/x-www-form-urlencoded bodies. Synchronous
responses do not: they are raw `k=v&k=v` text whose values are NOT URL-encoded (signPubKeyCert
arrives with its newlines and `+`/`/`/`=` intact), and a value wrapped in `{...}` or `[...]` may
contain `&` and `=`. `parse_response_text` follows that grammar, as the official SDKs' response
parsers do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict
from urllib.parse import parse_qsl, urlencode

VERSION = "5.1.0"
ENCODING = "UTF-8"
SIGN_METHOD_CERT = "01"  # RSA with certificates; 11/12 are the secureKey (SHA-256/SM3) variants

TXN_QUERY = "00"
TXN_CONSUME = "01"
TXN_REFUND = "04"
TXN_FILE_TRANSFER = "76"

BIZ_GATEWAY_PAY = "000201"  # B2C gateway payment
BIZ_NONE = "000000"  # query and file transfer
CHANNEL_PC = "07"
CHANNEL_MOBILE = "08"
ACCESS_MERCHANT = "0"  # the merchant connects directly
CURRENCY_CNY = "156"
FILE_TYPE_RECONCILIATION = "00"

RESP_SUCCESS = "00"
RESP_SUCCESS_WITH_DEFECTS = "A6"  # BackReceive demo: 00 or A6 means the transaction succeeded
SUCCESS_CODES = frozenset({RESP_SUCCESS, RESP_SUCCESS_WITH_DEFECTS})
PROCESSING_CODES = frozenset({"03", "04", "05"})  # timeout, state unknown, accepted: query again
RESP_FILE_MISSING = "98"

# The codes below are recalled from the ACP appendix ("平台接入接口规范-第5部分-附录"), which was not
# available: UNVERIFIED. The client never depends on them beyond "not success, not processing",
# except RESP_NOT_FOUND, which it maps to TxnStatus.NOT_FOUND.
RESP_FAILED = "01"
RESP_BUSY = "06"
RESP_FORMAT_ERROR = "10"
RESP_BAD_SIGNATURE = "11"
RESP_DUPLICATE = "12"
RESP_BAD_MERCHANT = "31"
RESP_AMOUNT_EXCEEDED = "33"
RESP_NOT_FOUND = "34"
RESP_ORIGINAL_INVALID = "35"

# Fields that may carry card data. They never leave the rail: not in NotificationEvent.fields, not in
# logs, not in errors (PCI DSS; providers.md 3.6 and pitfall 25).
SENSITIVE_FIELDS = frozenset({"accNo", "customerInfo", "cardTransData", "payCardNo", "encryptCertId"})


class ConsumeRequest(TypedDict, total=False):
    version: str
    encoding: str
    signMethod: str
    txnType: str
    txnSubType: str
    bizType: str
    channelType: str
    accessType: str
    currencyCode: str
    merId: str
    orderId: str
    txnTime: str
    txnAmt: str
    payTimeout: str
    frontUrl: str
    backUrl: str
    riskRateInfo: str
    reqReserved: str
    certId: str
    signature: str


class RefundRequestFields(TypedDict, total=False):
    version: str
    encoding: str
    signMethod: str
    txnType: str
    txnSubType: str
    bizType: str
    channelType: str
    accessType: str
    merId: str
    orderId: str  # the refund's own order id (our refund_no), not the consume's
    origQryId: str  # queryId of the consume being refunded
    txnTime: str
    txnAmt: str
    backUrl: str
    reqReserved: str
    certId: str
    signature: str


class QueryRequest(TypedDict, total=False):
    version: str
    encoding: str
    signMethod: str
    txnType: str
    txnSubType: str
    bizType: str
    accessType: str
    channelType: str
    merId: str
    orderId: str
    txnTime: str  # the txnTime of the transaction being queried
    certId: str
    signature: str


class FileTransferRequest(TypedDict, total=False):
    version: str
    encoding: str
    signMethod: str
    txnType: str
    txnSubType: str
    bizType: str
    accessType: str
    fileType: str
    merId: str
    settleDate: str  # MMDD
    txnTime: str
    certId: str
    signature: str


class BackNotification(TypedDict, total=False):
    """A back notification (backUrl). The full field list is UNVERIFIED (providers.md 3.4)."""

    version: str
    encoding: str
    signMethod: str
    txnType: str
    txnSubType: str
    bizType: str
    accessType: str
    merId: str
    orderId: str
    txnTime: str
    txnAmt: str
    currencyCode: str
    queryId: str
    origQryId: str
    respCode: str
    respMsg: str
    traceNo: str
    traceTime: str
    settleAmt: str
    settleCurrencyCode: str
    settleDate: str
    accNo: str
    payCardType: str
    reqReserved: str
    signPubKeyCert: str
    signature: str


class QueryResponse(TypedDict, total=False):
    respCode: str
    respMsg: str
    origRespCode: str
    origRespMsg: str
    orderId: str
    txnTime: str
    txnAmt: str
    queryId: str
    origQryId: str
    merId: str
    signPubKeyCert: str
    signature: str


class FileTransferResponse(TypedDict, total=False):
    respCode: str
    respMsg: str
    fileName: str
    fileContent: str  # base64(zlib-deflate(zip))
    merId: str
    settleDate: str
    signPubKeyCert: str
    signature: str


class WireFormatError(ValueError):
    """A body that does not follow the ACP message grammar."""


def encode_form(fields: Mapping[str, str]) -> bytes:
    """Form-encode a request or notification body (UTF-8, `+` and `&` in values escaped)."""
    return urlencode(list(fields.items()), encoding="utf-8").encode("ascii")


def decode_form(body: bytes, *, max_fields: int = 200) -> dict[str, str]:
    """Decode a form body exactly once. Repeated or nameless keys are refused, never merged."""
    try:
        # Conforming senders percent-encode everything, but raw UTF-8 is tolerated as browsers and
        # some HTTP stacks send it; anything that is not UTF-8 at all is refused.
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WireFormatError("form body is not UTF-8") from exc
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=max_fields,
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireFormatError(f"form body does not parse: {type(exc).__name__}") from exc
    fields: dict[str, str] = {}
    for key, value in pairs:
        if not key or key in fields:
            raise WireFormatError("empty or repeated field name")
        fields[key] = value
    return fields


def parse_response_text(text: str) -> dict[str, str]:
    """Parse a synchronous response: `k=v&...`, raw values, `{...}`/`[...]` values kept whole."""
    fields: dict[str, str] = {}
    key: str | None = None
    buf: list[str] = []
    closer = ""

    def flush() -> None:
        if key is None:
            if buf:
                raise WireFormatError("response segment without '='")
            return
        if not key or key in fields:
            raise WireFormatError("empty or repeated field name in response")
        fields[key] = "".join(buf)

    for ch in text:
        if closer:
            buf.append(ch)
            if ch == closer:
                closer = ""
        elif ch in "{[" and key is not None:
            closer = "}" if ch == "{" else "]"
            buf.append(ch)
        elif ch == "=" and key is None:
            key = "".join(buf)
            buf = []
        elif ch == "&":
            flush()
            key, buf = None, []
        else:
            buf.append(ch)
    if closer:
        raise WireFormatError("unbalanced bracket in response")
    flush()
    return fields


def render_response_text(fields: Mapping[str, str]) -> str:
    """The inverse of `parse_response_text`, for the sandbox. Values must not hold a bare `&`."""
    for key, value in fields.items():
        if "&" in value and not (value.startswith(("{", "[")) and value.endswith(("}", "]"))):
            raise ValueError(f"{key} holds '&' outside brackets")
    return "&".join(f"{k}={v}" for k, v in fields.items())
