"""Pricing rules: a bulk discount and the sales tax."""

from shop.money import round_cents

TAX_RATE = 0.20
BULK_QUANTITY = 3  # buying this many of one item or more...
BULK_DISCOUNT = 0.10  # ...takes this fraction off that line


def line_price(unit_price: float, quantity: int) -> float:
    """Net price of one receipt line, after the bulk discount."""
    net = unit_price * quantity
    if quantity >= BULK_QUANTITY:
        net *= 1 - BULK_DISCOUNT
    return round_cents(net)


def with_tax(net: float) -> float:
    """Gross price for a net amount."""
    return round_cents(net * (1 + TAX_RATE))
