"""JSON Schema export of the catalogue, and the compatibility rule between two schemas.

``python -m kauppa.contracts.schemas`` writes ``contracts/schemas/<type>.v<N>.json``.
It refuses to overwrite a committed schema with a change that would break existing
consumers; such a change needs a new event version (a new class) instead.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from kauppa.contracts.base import Event
from kauppa.contracts.catalogue import all_event_classes

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "schemas"


def schema_file_name(cls: type[Event]) -> str:
    return f"{cls.type_name}.v{cls.event_version}.json"


def schema_of(cls: type[Event]) -> dict[str, Any]:
    schema = cls.model_json_schema(mode="serialization")
    schema["$id"] = f"https://kauppa.dev/schemas/{schema_file_name(cls)}"
    schema["x-cloudevents-type"] = cls.ce_type()
    schema["x-kafka-topic"] = cls.topic
    schema["x-partition-key"] = cls.key_field
    schema["x-emitted-by"] = cls.emitted_by
    schema["x-consumed-by"] = list(cls.consumed_by)
    return schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return root.get("$defs", {}).get(ref.split("/")[-1], {})
    return node


def _object_branch(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any] | None:
    node = _resolve(node, root)
    if "properties" in node:
        return node
    for key in ("anyOf", "oneOf", "allOf"):
        for option in node.get(key, []):
            branch = _object_branch(option, root)
            if branch is not None:
                return branch
    return None


def _types(node: dict[str, Any], root: dict[str, Any]) -> set[str]:
    node = _resolve(node, root)
    found: set[str] = set()
    if "type" in node:
        t = node["type"]
        found.update(t if isinstance(t, list) else [t])
    if "enum" in node:
        found.add("enum")
    for key in ("anyOf", "oneOf"):
        for option in node.get(key, []):
            found |= _types(option, root)
    if "$ref" in node or "properties" in node:
        found.add("object")
    return found


_MAXIMA = ("maxLength", "maxItems", "maximum")


def _limits(node: dict[str, Any], root: dict[str, Any], path: str) -> dict[str, Any]:
    """The maxima and patterns of a field, its optional branches and its list items,
    keyed by where they apply (``notes maxLength``, ``tags[] maxLength``)."""
    node = _resolve(node, root)
    found: dict[str, Any] = {}
    for key in (*_MAXIMA, "pattern"):
        if key in node:
            found[f"{path} {key}"] = node[key]
    for key in ("anyOf", "oneOf"):
        for option in node.get(key, []):
            found.update(_limits(option, root, path))
    if isinstance(node.get("items"), dict):
        found.update(_limits(node["items"], root, f"{path}[]"))
    return found


def _loosened(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Bounds a consumer could rely on that the new schema lifts: a maximum raised or
    dropped, a pattern changed or dropped. Adding or lowering a bound is not breaking
    for consumers (they only ever see less than before)."""
    problems = []
    for where, value in sorted(old.items()):
        if where not in new:
            problems.append(f"{where}: bound dropped")
        elif where.endswith("pattern") and new[where] != value:
            problems.append(f"{where}: pattern changed")
        elif not where.endswith("pattern") and new[where] > value:
            problems.append(f"{where}: raised from {value} to {new[where]}")
    return problems


def breaking_changes(
    old: dict[str, Any], new: dict[str, Any], path: str = "", _roots: tuple[Any, Any] | None = None
) -> list[str]:
    """What a consumer built on ``old`` would trip over if producers sent ``new``.

    Breaking: a field removed or renamed (the old name disappears), a field newly
    required, a field whose type no longer admits what it did, an enum value dropped, a
    size bound raised or dropped (see ``_loosened``). Adding optional fields and adding
    or tightening bounds are fine.
    """
    old_root, new_root = _roots or (old, new)
    problems: list[str] = []
    old_obj, new_obj = _object_branch(old, old_root), _object_branch(new, new_root)
    if old_obj is None or new_obj is None:
        return problems
    old_props, new_props = old_obj.get("properties", {}), new_obj.get("properties", {})
    old_req, new_req = set(old_obj.get("required", [])), set(new_obj.get("required", []))
    for name in sorted(old_props):
        where = f"{path}.{name}" if path else name
        if name not in new_props:
            problems.append(f"{where}: field removed or renamed")
            continue
        old_t, new_t = _types(old_props[name], old_root), _types(new_props[name], new_root)
        if old_t and new_t and not old_t <= new_t:
            problems.append(f"{where}: type changed from {sorted(old_t)} to {sorted(new_t)}")
        old_enum = set(_resolve(old_props[name], old_root).get("enum", []))
        new_enum = set(_resolve(new_props[name], new_root).get("enum", []))
        if old_enum - new_enum and new_enum:
            problems.append(f"{where}: enum values dropped {sorted(old_enum - new_enum)}")
        problems += _loosened(
            _limits(old_props[name], old_root, where), _limits(new_props[name], new_root, where)
        )
        problems += breaking_changes(old_props[name], new_props[name], where, (old_root, new_root))
    for name in sorted(new_req - old_req):
        where = f"{path}.{name}" if path else name
        problems.append(f"{where}: newly required")
    return problems


def compare_with_committed(directory: Path = SCHEMA_DIR) -> tuple[list[str], list[str]]:
    """(drifted files, breaking changes) between the models and the committed files."""
    drift: list[str] = []
    breaking: list[str] = []
    expected = {schema_file_name(c): schema_of(c) for c in all_event_classes()}
    for name, schema in expected.items():
        path = directory / name
        if not path.exists():
            drift.append(f"{name}: not exported")
            continue
        committed_text = path.read_text()
        if committed_text != render(schema):
            drift.append(f"{name}: differs from the model")
            breaking += [
                f"{name}: {p}" for p in breaking_changes(json.loads(committed_text), schema)
            ]
    for path in directory.glob("*.json"):
        if path.name not in expected:
            drift.append(f"{path.name}: no model has this schema any more")
            breaking.append(f"{path.name}: event type removed while consumers may rely on it")
    return drift, breaking


def export(directory: Path = SCHEMA_DIR, *, allow_breaking: bool = False) -> list[str]:
    _, breaking = compare_with_committed(directory)
    if breaking and not allow_breaking:
        raise SystemExit(
            "refusing to export breaking schema changes (add a new event version instead):\n  "
            + "\n  ".join(breaking)
        )
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for cls in all_event_classes():
        path = directory / schema_file_name(cls)
        text = render(schema_of(cls))
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            written.append(path.name)
    return written


def main() -> None:
    from kauppa.contracts.docs import update_readme

    written = export(allow_breaking="--allow-breaking" in sys.argv)
    if update_readme():
        print("contracts/README.md catalogue table updated")
    print(
        f"{len(written)} schema file(s) written to {SCHEMA_DIR}"
        if written
        else "schemas up to date"
    )


if __name__ == "__main__":
    main()
