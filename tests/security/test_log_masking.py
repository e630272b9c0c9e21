"""Log lines never carry an ID number, a mobile number or a card number in clear."""

from __future__ import annotations

import json
import logging

from payments.logs import JsonFormatter, mask_text


def test_an_id_number_is_masked():
    assert mask_text("id 11010519491231002X here") == "id 1101**********002X here"


def test_a_mobile_number_is_masked():
    assert mask_text("call 13812345678") == "call 138****5678"


def test_a_card_number_keeps_only_the_first_six_and_last_four():
    assert mask_text("pan 6222021234567890123") == "pan 622202******0123"


def test_ordinary_numbers_are_left_alone():
    assert mask_text("amount_fen 123450 order PR01ABC") == "amount_fen 123450 order PR01ABC"


def test_json_log_lines_are_masked_and_parseable():
    record = logging.LogRecord("payrecon.test", logging.WARNING, __file__, 1, "debtor %s", ("13812345678",), None)
    line = json.loads(JsonFormatter().format(record))
    assert (line["level"], line["msg"]) == ("WARNING", "debtor 138****5678")
