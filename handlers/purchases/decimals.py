"""The one decimal context purchase numbers are checked and computed in.

It is DynamoDB's number type: 38 significant digits, magnitudes from 1E-130 to 9.99...E+125. Every signal
that would change a value is trapped (overflow, underflow, subnormal, clamping, rounding, inexact results,
NaN and invalid operations), so a number either fits the table exactly or is refused before it is queued:
`1e-1000030` is not silently 0 and `1e999999999` is a refusal, not a crash. The bounds on the exponent are
checked before any digit string is built, so a huge exponent costs nothing.
"""

from __future__ import annotations

from decimal import (
    ROUND_HALF_EVEN,
    Clamped,
    Context,
    Decimal,
    DecimalException,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    Subnormal,
    Underflow,
)
from typing import Final

MAX_SIGNIFICANT_DIGITS: Final = 38
MAX_ADJUSTED_EXPONENT: Final = 125
MIN_ADJUSTED_EXPONENT: Final = -130

NUMBER_CONTEXT: Final = Context(
    prec=MAX_SIGNIFICANT_DIGITS,
    rounding=ROUND_HALF_EVEN,
    Emax=MAX_ADJUSTED_EXPONENT,
    Emin=MIN_ADJUSTED_EXPONENT,
    traps=[InvalidOperation, DivisionByZero, Overflow, Underflow, Subnormal, Clamped, Inexact, Rounded],
)


class NumberOutOfRange(ValueError):
    """The number is not finite, or cannot be stored exactly as a DynamoDB number."""


def storable(value: Decimal) -> Decimal:
    """`value` itself when DynamoDB can store it exactly; raises `NumberOutOfRange` otherwise."""
    if not value.is_finite():
        raise NumberOutOfRange("must be a finite number")
    if not value.is_zero() and not MIN_ADJUSTED_EXPONENT <= value.adjusted() <= MAX_ADJUSTED_EXPONENT:
        raise NumberOutOfRange("is too large or too small to be stored exactly")
    try:
        return NUMBER_CONTEXT.plus(value)
    except DecimalException:
        raise NumberOutOfRange(
            f"must have at most {MAX_SIGNIFICANT_DIGITS} significant digits and a storable exponent"
        ) from None


def multiply(left: Decimal, right: Decimal) -> Decimal:
    """The exact product; raises `NumberOutOfRange` when it cannot be stored exactly."""
    try:
        return NUMBER_CONTEXT.multiply(left, right)
    except DecimalException:
        raise NumberOutOfRange("is too large or too small to be stored exactly") from None


def normalized(value: Decimal) -> Decimal:
    """`value` without trailing zeros, computed in the bounded context (never a huge digit string)."""
    try:
        return value.normalize(NUMBER_CONTEXT)
    except DecimalException:
        raise NumberOutOfRange("is too large or too small to be stored exactly") from None
