"""Domain errors. The API maps them to RFC 9457 problems; the type slugs here are the stable part."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str
    message: str


class DomainError(Exception):
    """Base for errors a caller caused and can fix. `type_slug` is stable and documented."""

    type_slug = "domain-error"
    status = 422

    def __init__(self, detail: str, problems: list[FieldProblem] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problems = problems or []


class FieldError(DomainError):
    """One field is invalid."""

    type_slug = "validation-error"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", [FieldProblem(field, message)])
        self.field = field
        self.message = message


class ValidationErrors(DomainError):
    """Several fields are invalid; raised once with all of them so a caller fixes everything in one go."""

    type_slug = "validation-error"

    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems), problems)


class IllegalTransition(DomainError):
    type_slug = "illegal-transition"
    status = 409


@dataclass
class Collector:
    """Gathers field problems while validating a whole request, then raises them together."""

    problems: list[FieldProblem] = field(default_factory=list)

    def add(self, err: DomainError) -> None:
        self.problems.extend(err.problems or [FieldProblem("", err.detail)])

    def raise_if_any(self) -> None:
        if self.problems:
            raise ValidationErrors(self.problems)


class NotFound(DomainError):
    """Also what another tenant's resource looks like: existence is never revealed."""

    type_slug = "not-found"
    status = 404


class Conflict(DomainError):
    type_slug = "conflict"
    status = 409
