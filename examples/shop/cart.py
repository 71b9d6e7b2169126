"""A shopping cart that prints a receipt."""

from shop.money import fmt
from shop.pricing import line_price, with_tax


class Cart:
    """Items as ``(name, unit price, quantity)``."""

    def __init__(self, items: list[tuple[str, float, int]] | None = None) -> None:
        self.items = list(items or [])

    def add(self, name: str, unit_price: float, quantity: int = 1) -> None:
        self.items.append((name, unit_price, quantity))

    def net(self) -> float:
        return sum(line_price(price, quantity) for _, price, quantity in self.items)

    def total(self) -> float:
        return with_tax(self.net())

    def receipt(self) -> str:
        lines = [
            f"{quantity} x {name:<12} {fmt(line_price(price, quantity)):>12}"
            for name, price, quantity in self.items
        ]
        lines.append(f"{'net':<16} {fmt(self.net()):>12}")
        lines.append(f"{'total incl. tax':<16} {fmt(self.total()):>12}")
        return "\n".join(lines)
