"""Kubernetes resource quantities (k8s.io/apimachinery/pkg/api/resource), compared by value.

The API server rewrites quantities in canonical form (`1024Mi` comes back as `1Gi`), so
anything that compares what it asked for with what the cluster holds, or checks that a
request does not exceed a limit, must compare values, not strings.
"""

from __future__ import annotations

import re
from decimal import Decimal

QUANTITY_RE = re.compile(
    r"^(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$"
)
"""The quantity grammar without a sign (nothing here asks for a negative amount): a number,
then a binary or decimal suffix or an exponent."""

_SUFFIX = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


def parse_quantity(text: str) -> Decimal:
    """The value of a quantity, so `1Gi` equals `1024Mi` and `0.5` equals `500m`; a
    ValueError for anything else (surrounding spaces included: callers strip user input)."""
    match = QUANTITY_RE.fullmatch(text)
    if not match:
        raise ValueError(f"'{text}' is not a Kubernetes quantity")
    number, suffix = Decimal(match.group(1)), match.group(3) or ""
    if suffix[:1] in ("e", "E"):
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * _SUFFIX[suffix]
