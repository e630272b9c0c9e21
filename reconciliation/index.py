"""Blocking keys from cases to candidate lists, built once, so a payment is compared with a handful of
cases and never with all of them.

Keys: our case and link ids; case and contract numbers (compacted as memos write them); the debtor name
in simplified characters, its pinyin spellings and its first+last characters (for masks like 张*三);
ID and phone last four; accounts that paid before; amounts (balance, instalments, offer) by whole yuan.

A memo token is also looked up in all its one-typo variants (a few hundred dict look-ups), so the case
a payer meant can be found, and weighed against the one the typo happens to name.

A key shared by more than `block_cap` cases (张伟, 500.00 yuan, an ID tail) is too common to enumerate:
it is used only to intersect with another such key. Case positions are assigned in case-id order, so
the index, and everything decided with it, does not depend on the order the cases came in.

Built from a million cases it takes about 15-20 s of CPU and 0.8 GB (bench/rules.py); build it from the
cases that can take money (open, partially paid, on hold, plus recently closed ones for links).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from operator import attrgetter

from reconciliation.facts import CaseFacts
from reconciliation.names import mask_keys, pattern_mask_key, pinyin_keys, simplified
from reconciliation.rules import Evidence, compact_reference

# One yuan per amount bucket: fine enough that a bucket holds few cases of a million, coarse enough that
# a tolerance of a few yuan touches few buckets. Wider tolerances are checked on the cases other keys
# found, but do not find cases by amount on their own beyond MAX_AMOUNT_BUCKETS.
AMOUNT_BUCKET_FEN = 100
MAX_AMOUNT_BUCKETS = 33

# A dict value is one position (int) or a list of positions: case numbers and link ids belong to one
# case each, and a million one-element lists would cost a hundred MB for nothing.
Slot = int | list[int]


def _size(slot: Slot | None) -> int:
    return 0 if slot is None else 1 if isinstance(slot, int) else len(slot)


def _iter(slot: Slot | None) -> Iterator[int]:
    if slot is None:
        return iter(())
    return iter((slot,)) if isinstance(slot, int) else iter(slot)


_DIGITS = "0123456789"


def near_variants(token: str) -> Iterator[str]:
    """Strings one edit from a reference-like token (at least six characters, with a digit): each
    character changed, dropped or swapped with its neighbour, or one inserted. Digits and the token's own
    letters are the alphabet: a slip of the finger in "AJ2024000123" makes digits, not new letters."""
    if len(token) < 6 or len(token) > 32 or not any(c.isdigit() for c in token):
        return
    alphabet = _DIGITS + "".join(sorted({c for c in token if not c.isdigit()}))
    n = len(token)
    for i in range(n):
        yield token[:i] + token[i + 1 :]
        if i + 1 < n and token[i] != token[i + 1]:
            yield token[:i] + token[i + 1] + token[i] + token[i + 2 :]
        for ch in alphabet:
            if ch != token[i]:
                yield token[:i] + ch + token[i + 1 :]
    for i in range(n + 1):
        for ch in alphabet:
            yield token[:i] + ch + token[i:]


class CandidateIndex:
    def __init__(self, cases: Iterable[CaseFacts]) -> None:
        self.cases: list[CaseFacts] = sorted(cases, key=attrgetter("case_id"))
        # Case ids are found by bisection in the sorted list: a dict of a million ids would cost ~100 MB.
        self._case_ids: list[str] = [c.case_id for c in self.cases]
        if any(a == b for a, b in zip(self._case_ids, self._case_ids[1:], strict=False)):
            raise ValueError("case ids must be unique")
        self._links: dict[str, int] = {}
        self._refs: dict[str, Slot] = {}
        # The loop below runs once per case (a million times): a per-build cache of name keys and
        # C-level dict and list calls keep it to what an index build must cost.
        names: dict[str, list[int]] = defaultdict(list)
        pinyin: dict[str, list[int]] = defaultdict(list)
        masks: dict[str, list[int]] = defaultdict(list)
        last4: dict[str, list[int]] = defaultdict(list)
        accounts: dict[str, list[int]] = defaultdict(list)
        amounts: dict[int, list[int]] = defaultdict(list)
        first_case: dict[str, int] = {}
        more_cases: dict[str, list[int]] = {}
        name_keys: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}
        links, refs = self._links, self._refs
        for pos, case in enumerate(self.cases):
            for link in case.link_ids:
                if links.setdefault(link, pos) != pos:
                    raise ValueError("link ids must be unique")
            for ref in (case.case_number, case.contract_number):
                if ref:
                    key = compact_reference(ref)
                    old = refs.setdefault(key, pos)
                    if old != pos:  # two cases quoting one number: rare, so the slow path is fine
                        refs[key] = [*_iter(old), pos]
            name = case.debtor_name
            keys = name_keys.get(name)
            if keys is None:
                keys = name_keys[name] = (simplified(name), tuple(sorted(pinyin_keys(name))), mask_keys(name))
            if keys[0]:
                names[keys[0]].append(pos)
            for key in keys[1]:
                pinyin[key].append(pos)
            for key in keys[2]:
                masks[key].append(pos)
            # ID and phone tails share a table: a four-character memo token is looked up once, for both.
            tail = case.id_last4.upper()
            if tail:
                last4[tail].append(pos)
            if case.phone_last4 and case.phone_last4 != tail:
                last4[case.phone_last4].append(pos)
            for account in case.payer_accounts:
                accounts[account].append(pos)
            if case.instalments or case.offer_fen:
                for amount in self.amounts_of(case):
                    amounts[amount // AMOUNT_BUCKET_FEN].append(pos)
            elif case.balance_fen > 0:
                amounts[case.balance_fen // AMOUNT_BUCKET_FEN].append(pos)
            debtor = case.debtor_id
            if first_case.setdefault(debtor, pos) != pos:
                more_cases.setdefault(debtor, [first_case[debtor]]).append(pos)
        if not links.keys().isdisjoint(self._case_ids):
            raise ValueError("a link id must not equal a case id")
        self._names, self._pinyin, self._masks = dict(names), dict(pinyin), dict(masks)
        self._last4, self._accounts, self._amounts = dict(last4), dict(accounts), dict(amounts)
        # Only debtors with several cases at one client form groups (one payment over many cases).
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for positions in more_cases.values():
            for pos in positions:
                groups[self.cases[pos].group_key].append(pos)
        self._groups = {k: tuple(v) for k, v in groups.items() if len(v) > 1}

    @staticmethod
    def amounts_of(case: CaseFacts) -> set[int]:
        """The amounts a payment to this case is likely to be: balance, instalments, what is left of the offer."""
        if not case.instalments and not case.offer_fen:
            balance = case.balance_fen
            return {balance} if balance > 0 else set()
        amounts = {case.balance_fen, *(i.amount_fen for i in case.instalments)}
        if case.offer_fen:
            amounts.add(case.offer_fen - case.offer_paid_fen)
        return {a for a in amounts if a > 0}

    def __len__(self) -> int:
        return len(self.cases)

    def position(self, ident: str) -> int | None:
        """The position of the case with this case id or link id."""
        i = bisect_left(self._case_ids, ident)
        if i < len(self._case_ids) and self._case_ids[i] == ident:
            return i
        return self._links.get(ident)

    def group(self, key: tuple[str, str]) -> tuple[int, ...]:
        return self._groups.get(key, ())

    def lookup(self, ev: Evidence, cap: int, slack_fen: int) -> Lookup:
        """What the payment's keys find, sorted by how much each key says (see `Lookup`)."""
        found = Lookup(set(), set(), set(), [])

        def put(slot: Slot | None, into: set[int] | None) -> None:
            n = _size(slot)
            if n and into is not None and n <= cap:
                into.update(_iter(slot))
            elif n:
                found.large.append(slot)  # type: ignore[arg-type]

        for token in sorted(ev.tokens):
            put(self._refs.get(token), found.strong)
            for near in near_variants(token):
                put(self._refs.get(near), found.near)
        payer = ev.payer
        if payer.masked:
            key = pattern_mask_key(payer.cleaned)
            if key:
                put(self._masks.get(key), found.strong)
        elif payer.simple:
            put(self._names.get(payer.simple), found.strong)
            for key in sorted(payer.pinyin):
                put(self._pinyin.get(key), found.strong)
        for tail in sorted(ev.last4):
            # A four-digit tail is one in ten thousand: never a reason to look at a case on its own.
            put(self._last4.get(tail), None)
        if ev.account:
            put(self._accounts.get(ev.account), found.strong)
        if ev.linked_group:
            found.strong.update(self.group(ev.linked_group))
        # Amount buckets count together: a tolerance spanning many buckets must not multiply the cap.
        centre, half = ev.amount_fen // AMOUNT_BUCKET_FEN, MAX_AMOUNT_BUCKETS // 2
        low = max((ev.amount_fen - slack_fen) // AMOUNT_BUCKET_FEN, centre - half)
        high = min((ev.amount_fen + slack_fen) // AMOUNT_BUCKET_FEN, centre + half)
        by_amount: list[int] = []
        for bucket in range(low, high + 1):
            by_amount.extend(_iter(self._amounts.get(bucket)))
        put(by_amount, found.amount)
        return found


@dataclass(slots=True)
class Lookup:
    """Positions a payment's keys found.

    `strong`: the memo's case or contract number, the payer's name (exact, converted, pinyin, mask with
    both ends), an account that paid before, the debtor of the link used: each worth scoring.
    `near`: cases whose number is one typo from a memo token; the caller keeps those that something
    else corroborates, as the true case or as a rival to the case the memo names.
    `amount`: cases owing about this amount; worth scoring only when nothing stronger was found.
    `large`: keys too common to enumerate (张伟, an ID tail); only ever intersected.
    """

    strong: set[int]
    near: set[int]
    amount: set[int]
    large: list[Slot]

    def intersection(self, cap: int) -> list[int]:
        """What the two most specific common keys share (张伟 and an ID tail), at most `cap`."""
        if len(self.large) < 2:
            return []
        a, b = sorted(self.large, key=lambda s: (_size(s), next(_iter(s))))[:2]
        return sorted(set(_iter(a)).intersection(_iter(b)))[:cap]
