"""The engine's configuration: ordered rules with weights and tolerances, the auto threshold and margin.

The defaults encode one policy: an automatic application needs an identifier (case or contract number,
a link of the same debtor, an account that paid before) together with a second, independent sign (the
name in some form, or the amount), or a name with both the amount and an ID/phone tail. A name with an
amount alone is 60 points, under the threshold of 70: common names repeat among a million debtors, and a
wrong automatic application costs more than a review.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciliation.rules import EXACT, FAMILY, Code, Tolerance


@dataclass(frozen=True, slots=True)
class Rule:
    code: Code
    weight: int
    tolerance: Tolerance = EXACT  # amount rules only

    family: str = field(init=False, default="")

    def __post_init__(self) -> None:
        code = Code(self.code)  # a string from a settings file is accepted
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "family", FAMILY.get(code, code.value))
        if type(self.weight) is not int or self.weight < 0:
            raise ValueError("a rule weight is a non-negative int")


ONE_YUAN = Tolerance(fixed_fen=100)

DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(Code.CASE_NUMBER, 55),
    Rule(Code.CONTRACT_NUMBER, 55),
    Rule(Code.NEAR_REFERENCE, 25),
    Rule(Code.KNOWN_ACCOUNT, 40),
    Rule(Code.LINKED_DEBTOR, 30),
    Rule(Code.NAME_EXACT, 35),
    Rule(Code.NAME_CONVERTED, 35),
    Rule(Code.NAME_PINYIN, 25),
    Rule(Code.NAME_MASKED, 15),
    Rule(Code.NAME_MASK_HINT, 5),
    Rule(Code.ID_LAST4, 15),
    Rule(Code.PHONE_LAST4, 10),
    # Offer before balance: paying the offer in time settles the case, which is the stronger reading.
    Rule(Code.AMOUNT_OFFER, 25, ONE_YUAN),
    Rule(Code.AMOUNT_BALANCE, 25, ONE_YUAN),
    Rule(Code.AMOUNT_TOTAL, 25, ONE_YUAN),
    Rule(Code.AMOUNT_INSTALMENT, 20),
    Rule(Code.DATE_WINDOW, 5),
)


@dataclass(frozen=True, slots=True)
class RuleConfig:
    rules: tuple[Rule, ...] = DEFAULT_RULES  # evaluation and display order; first of a family wins
    date_window_days: int = 7
    auto_threshold: int = 70
    margin: int = 20  # the winner must lead the next candidate by at least this much
    min_score: int = 15  # weaker candidates are not suggested to reviewers
    max_candidates: int = 5  # suggestions kept per payment for review
    block_cap: int = 200  # a blocking key shared by more cases than this is too common to enumerate

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))
        codes = [r.code for r in self.rules]
        if len(set(codes)) != len(codes):
            raise ValueError("each rule may appear once")
        for name in (
            "date_window_days",
            "auto_threshold",
            "margin",
            "min_score",
            "max_candidates",
            "block_cap",
        ):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise ValueError(f"RuleConfig.{name} must be a non-negative int")
        if self.auto_threshold == 0:
            raise ValueError("RuleConfig.auto_threshold must be positive: zero would apply anything")

    def amount_slack(self, target_fen: int) -> int:
        """The widest distance from `target_fen` any amount rule accepts, for the amount blocking key."""
        return max((r.tolerance.fen_for(target_fen) for r in self.rules if r.family == "amount"), default=0)
