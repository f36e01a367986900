"""Readers of the config formats the roles render, shared by the rendering tests."""

from __future__ import annotations

import xml.etree.ElementTree as ET


def xml_properties(text: str) -> dict[str, str]:
    """A Hadoop-style `<configuration><property><name/><value/>` file; each name once."""
    root = ET.fromstring(text.encode())
    assert root.tag == "configuration"
    found: dict[str, str] = {}
    for prop in root.iter("property"):
        name = prop.findtext("name")
        assert name, "a property without a name"
        assert name not in found, f"{name} set twice"
        found[name] = prop.findtext("value") or ""
    return found
