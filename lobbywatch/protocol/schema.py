"""JSON Schema export: one file per message type, for implementers in other languages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lobbywatch.protocol.messages import MESSAGE_TYPES, Envelope

SCHEMA_ID_ROOT = "https://lobbywatch.invalid/protocol/v1/"


def message_schema(cls: type[Envelope]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one message type, as it travels (aliases, JSON types)."""
    schema = cls.model_json_schema(by_alias=True, mode="serialization")
    type_name = cls.model_fields["type"].default
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"{SCHEMA_ID_ROOT}{type_name}.schema.json"
    schema["title"] = f"LobbyWatch protocol v1: {type_name}"
    # The type tag is required on the wire even though the Python model has a default.
    required = set(schema.get("required", []))
    schema["required"] = sorted(required | {"type", "v"})
    schema["properties"]["type"] = {"const": type_name, "type": "string"}
    return schema


def write_schemas(out_dir: Path) -> list[Path]:
    """Write ``<type>.schema.json`` for every message type into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for type_name, cls in sorted(MESSAGE_TYPES.items()):
        path = out_dir / f"{type_name}.schema.json"
        path.write_text(json.dumps(message_schema(cls), indent=2, ensure_ascii=False) + "\n")
        written.append(path)
    return written
