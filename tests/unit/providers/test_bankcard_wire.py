"""Wire grammar, pure mappings and configuration of the bank card rail."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from payments.domain.money import Money
from providers.bankcard import transform, wire
from providers.bankcard.config import LIVE_GATEWAY_BASE, BankCardConfig
from providers.base import BEIJING, RefundStatus, TxnStatus
from tests.unit.providers.test_bankcard_support import (  # noqa: F401 - fixtures are found by name
    Env,
    bankcard_data_dir_fixture,
    env_fixture,
)

PEM = "-----BEGIN CERTIFICATE-----\nMIIB+/=\n-----END CERTIFICATE-----"


def test_response_values_are_raw_and_bracketed_values_keep_ampersands() -> None:
    text = f"respCode=00&respMsg=成功[0000000]&riskRateInfo={{commodityName=a&b=c}}&signPubKeyCert={PEM}&x="
    assert wire.parse_response_text(text) == {
        "respCode": "00",
        "respMsg": "成功[0000000]",
        "riskRateInfo": "{commodityName=a&b=c}",
        "signPubKeyCert": PEM,
        "x": "",
    }


def test_response_rendering_round_trips() -> None:
    fields = {"a": "1", "signature": "ab+/cd==", "b": "{k=v&w=z}", "pem": PEM}
    assert wire.parse_response_text(wire.render_response_text(fields)) == fields


@pytest.mark.parametrize("text", ["a=1&a=2", "a={1", "novalue", "=1"])
def test_malformed_responses_are_refused(text: str) -> None:
    with pytest.raises(wire.WireFormatError):
        wire.parse_response_text(text)


def test_rendering_refuses_a_bare_ampersand() -> None:
    with pytest.raises(ValueError, match="'&'"):
        wire.render_response_text({"reqReserved": "a&b"})


def test_form_is_decoded_once_and_plus_is_escaped_when_encoding() -> None:
    body = wire.encode_form({"sig": "a+b/c=", "msg": "x y%"})
    assert body == b"sig=a%2Bb%2Fc%3D&msg=x+y%25"
    assert wire.decode_form(body) == {"sig": "a+b/c=", "msg": "x y%"}


@pytest.mark.parametrize("body", [b"a=1&a=2", b"=1", b"a=%FF", b"\xff=1", b"a"])
def test_form_decoding_refuses_ambiguous_or_broken_bodies(body: bytes) -> None:
    with pytest.raises(wire.WireFormatError):
        wire.decode_form(body)


@pytest.mark.parametrize(
    ("resp", "orig", "status"),
    [
        ("00", "00", TxnStatus.SUCCESS),
        ("00", "A6", TxnStatus.SUCCESS),
        ("00", "03", TxnStatus.PENDING),
        ("00", "04", TxnStatus.PENDING),
        ("00", "05", TxnStatus.PENDING),
        ("00", "01", TxnStatus.FAILED),
        ("34", "", TxnStatus.NOT_FOUND),
        ("03", "", None),
        ("06", "", None),
    ],
)
def test_query_answers_map_per_section_3_4(resp: str, orig: str, status: TxnStatus | None) -> None:
    assert transform.queried_order_status(resp, orig) is status


@pytest.mark.parametrize(
    ("resp", "orig", "status"),
    [("00", "00", RefundStatus.SUCCESS), ("00", "05", RefundStatus.PROCESSING), ("00", "30", RefundStatus.FAILED),
     ("34", "", None)],
)  # fmt: skip
def test_refund_query_answers_map_per_section_3_4(resp: str, orig: str, status: RefundStatus | None) -> None:
    assert transform.queried_refund_status(resp, orig) is status


def test_txn_time_is_beijing_wall_clock() -> None:
    moment = datetime(2024, 12, 31, 16, 30, 5, tzinfo=UTC)
    assert transform.txn_time_text(moment) == "20250101003005"
    assert transform.parse_txn_time("20250101003005") == moment.astimezone(BEIJING)


@pytest.mark.parametrize("text", ["", "12.34", "-1", "1e3", " 1", "1" * 13])
def test_amount_digits_are_parsed_strictly(text: str) -> None:
    with pytest.raises(ValueError):
        transform.fen_from_digits(text)


def test_amounts_go_out_as_fen_digits() -> None:
    assert transform.txn_amt_text(Money(100)) == "100"
    with pytest.raises(ValueError):
        transform.txn_amt_text(Money(0))


def test_config_defaults_to_the_production_gateway(env: Env) -> None:
    live = replace(env.config, mode="live", gateway_base=LIVE_GATEWAY_BASE)
    assert live.front_url == "https://gateway.95516.com/gateway/api/frontTransReq.do"
    assert live.back_url.endswith("/gateway/api/backTransReq.do")
    assert live.query_url.endswith("/gateway/api/queryTrans.do")
    assert BankCardConfig.__dataclass_fields__["gateway_base"].default == LIVE_GATEWAY_BASE


@pytest.mark.parametrize("mer_id", ["77700000000001", "7770000000000011", "77700000000000A"])
def test_config_refuses_a_merchant_id_that_is_not_15_digits(env: Env, mer_id: str) -> None:
    with pytest.raises(ValueError, match="mer_id"):
        replace(env.config, mer_id=mer_id)


def test_client_refuses_a_certificate_that_does_not_match_the_key(env: Env) -> None:
    with pytest.raises(ValueError, match="does not match"):
        env.client_with(signing_cert_pem=env.config.middle_cert_pem)
