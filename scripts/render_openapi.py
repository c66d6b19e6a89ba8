"""Write the schemas of openapi/openapi.yaml from mediavault/schemas.py (`--check`: fail if stale).

The paths above the marker are written by hand and refer to the schemas by name; everything
below it is derived from the declarations the functions decode requests with and type their
answers by, so a body shape is never written twice.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import msgspec
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mediavault import schemas  # noqa: E402

DOCUMENT = ROOT / "openapi" / "openapi.yaml"
MARKER = (
    "  # Everything below is generated from mediavault/schemas.py by scripts/render_openapi.py:\n"
    "  # change the declarations there, then run it.\n"
    "  schemas:\n"
)
REF_TEMPLATE = "#/components/schemas/{name}"


def component_schemas() -> dict[str, Any]:
    """The JSON schemas of every declared body, keyed by name."""
    _, components = msgspec.json.schema_components(
        (*schemas.REQUESTS, *schemas.RESPONSES), ref_template=REF_TEMPLATE
    )
    declared = {name: getattr(schemas, name, None) for name in components}
    return {name: _tidy(schema, declared[name]) for name, schema in components.items()}


def _tidy(schema: dict[str, Any], declared: object) -> dict[str, Any]:
    """The key is the name (no title); answers are exact (no field the declaration lacks)."""
    tidy = {key: value for key, value in schema.items() if key != "title"}
    if tidy.get("required") == []:
        del tidy["required"]
    if "enum" in tidy and "type" not in tidy and all(isinstance(v, str) for v in tidy["enum"]):
        tidy = {"type": "string", **tidy}
    order = list(getattr(declared, "__annotations__", {}))
    if "properties" in tidy and order:
        # msgspec sorts a TypedDict's keys; the declaration's order reads better.
        fields = tidy["properties"]
        tidy["properties"] = {key: fields[key] for key in sorted(fields, key=order.index)}
        if "required" in tidy:
            tidy["required"] = sorted(tidy["required"], key=order.index)
    for field in tidy.get("properties", {}).values():
        # Absent and null mean the same; a null default would make generated clients send it.
        if "default" in field and field["default"] is None:
            del field["default"]
    if tidy.get("type") == "object":
        # Requests already say so (forbid_unknown_fields); a TypedDict answer says it here, so
        # that the schema tests fail when a handler sends a field nobody declared.
        tidy.setdefault("additionalProperties", False)
    return tidy


class _Dumper(yaml.SafeDumper):
    """Block style, with small leaf mappings and lists on one line as in the hand-written part."""


def _leaf(value: object) -> bool:
    if isinstance(value, dict):
        return all(not isinstance(v, dict | list) or (_leaf(v) and not v) for v in value.values())
    if isinstance(value, list):
        return all(not isinstance(v, dict | list) for v in value)
    return True


def _represent_dict(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    flow = _leaf(data) and len(str(data)) < 90
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=_leaf(data))


_Dumper.add_representer(dict, _represent_dict)
_Dumper.add_representer(list, _represent_list)


def rendered(current: str | None = None) -> str:
    """openapi/openapi.yaml with its generated part made anew from the declarations."""
    text = DOCUMENT.read_text() if current is None else current
    head, marker, _ = text.partition(MARKER)
    if not marker:
        raise SystemExit(f"{DOCUMENT}: the marker line before components.schemas is missing")
    components = component_schemas()
    missing = sorted(set(re.findall(r"#/components/schemas/(\w+)", head)) - set(components))
    if missing:
        raise SystemExit(f"the paths refer to undeclared schemas: {', '.join(missing)}")
    body = yaml.dump(
        components, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True, indent=2
    )
    indented = "".join(f"    {line}" if line.strip() else line for line in body.splitlines(True))
    return head + MARKER + indented


def main() -> None:
    """Write the document, or with --check fail when it is not what the declarations make."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when the document is stale")
    fresh = rendered()
    if parser.parse_args().check:
        if DOCUMENT.read_text() != fresh:
            raise SystemExit("openapi/openapi.yaml is stale: run scripts/render_openapi.py")
        return
    DOCUMENT.write_text(fresh)


if __name__ == "__main__":
    main()
