"""Money: rounding and formatting amounts.

The notebook star-imports this module (``from shop.money import *``), so only
the names in ``__all__`` are bound there.
"""

__all__ = ["CURRENCY", "fmt", "round_cents"]

CURRENCY = "EUR"


def round_cents(amount: float) -> float:
    """Round an amount to whole cents."""
    return round(amount, 2)


def fmt(amount: float) -> str:
    """Format an amount for display, for example ``12.50 EUR``."""
    return f"{round_cents(amount):.2f} {CURRENCY}"


def _cents(amount: float) -> int:
    """Not exported: a star import does not bind it."""
    return round(amount * 100)
