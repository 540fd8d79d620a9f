"""Renders the field reference of ``docs/protocol.md`` from the models, so the two never drift.

``python -m lobbywatch.protocol.reference --write`` refreshes the generated part of the doc;
a test fails when it is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from lobbywatch.protocol.examples import EXAMPLES
from lobbywatch.protocol.messages import MESSAGE_TYPES, Envelope
from lobbywatch.protocol.schema import message_schema

BEGIN = "<!-- BEGIN GENERATED: python -m lobbywatch.protocol.reference --write -->"
END = "<!-- END GENERATED -->"
DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def _type_text(prop: dict[str, Any], defs: dict[str, Any] | None = None) -> str:
    defs = defs or {}
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        target = defs.get(name, {})
        return _type_text(target, defs) if "enum" in target else f"object ({name})"
    if "const" in prop:
        return f"`{json.dumps(prop['const'])}`"
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "anyOf" in prop:
        return " or ".join(_type_text(p, defs) for p in prop["anyOf"])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"array of {_type_text(prop.get('items', {}), defs)}"
    if prop.get("format") == "date-time":
        return "UTC timestamp"
    return str(kind)


def _bounds(prop: dict[str, Any]) -> str:
    parts = []
    for key, label in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
        ("minLength", "length ≥"),
        ("maxLength", "length ≤"),
        ("maxItems", "items ≤"),
        ("pattern", ""),
    ):
        if key in prop:
            parts.append(f"{label} `{prop[key]}`" if label else f"`{prop[key]}`")
    for sub in prop.get("anyOf", []):
        parts.extend(b for b in [_bounds(sub)] if b)
    return ", ".join(parts)


def _table(cls: type[Envelope], envelope_fields: set[str]) -> list[str]:
    schema = message_schema(cls)
    required = set(schema.get("required", []))
    rows = ["| field | type | required | bounds | meaning |", "|---|---|---|---|---|"]
    for name, prop in schema["properties"].items():
        if name in envelope_fields and name != "type":
            continue
        desc = prop.get("description", "").replace("|", "\\|")
        rows.append(
            f"| `{name}` | {_type_text(prop, schema.get('$defs'))} | {'yes' if name in required else 'no'} | "
            f"{_bounds(prop)} | {desc} |"
        )
    return rows


def render() -> str:
    env_schema = Envelope.model_json_schema(by_alias=True, mode="serialization")
    envelope_fields = set(env_schema["properties"])
    lines = [BEGIN, "", "### Envelope (every message)", ""]
    lines += ["| field | type | bounds | meaning |", "|---|---|---|---|"]
    for name, prop in env_schema["properties"].items():
        desc = prop.get("description", "").replace("|", "\\|")
        lines.append(f"| `{name}` | {_type_text(prop)} | {_bounds(prop)} | {desc} |")
    for type_name, cls in sorted(MESSAGE_TYPES.items()):
        flags = [f"delivery: {cls.DELIVERY}", f"direction: {cls.DIRECTION}"]
        if cls.RETAINED:
            flags.append("retained")
        lines += ["", f"### `{type_name}` ({', '.join(flags)})", "", (cls.__doc__ or "").strip(), ""]
        lines += _table(cls, envelope_fields)
        lines += ["", "Example:", "", "```json", json.dumps(EXAMPLES[type_name], ensure_ascii=False), "```"]
    lines += ["", END]
    return "\n".join(lines)


def refreshed(doc_text: str) -> str:
    head, _, rest = doc_text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return head + render() + tail


def main(argv: list[str]) -> int:
    text = DOC.read_text(encoding="utf-8")
    new = refreshed(text)
    if "--write" in argv:
        DOC.write_text(new, encoding="utf-8")
        return 0
    return 0 if new == text else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
