"""config/README.md documents every key of the config schema (it is easy to forget)."""

from __future__ import annotations

import yaml
from wf_helpers import REPO


def schema_keys() -> list[str]:
    schema = yaml.safe_load((REPO / "src/lsat/schemas/config.schema.yaml").read_text())
    defs = schema["$defs"]
    keys: list[str] = []

    def walk(props: dict, prefix: str) -> None:
        for name, prop in props.items():
            key = prefix + name
            keys.append(key)
            if "$ref" in prop:
                prop = defs[prop["$ref"].rsplit("/", 1)[1]]
            if key.endswith("model.options"):
                continue  # listed in prose: build_model overrides
            walk(prop.get("properties", {}), key + ".")

    walk({k: v for k, v in schema["properties"].items() if k != "datasets"}, "")
    walk(defs["dataset"]["properties"], "datasets.<name>.")
    return keys


def test_every_schema_key_is_documented():
    text = (REPO / "config" / "README.md").read_text()
    missing = [k for k in schema_keys() if f"`{k}`" not in text]
    assert not missing, f"config/README.md does not document: {missing}"
    assert len(schema_keys()) > 40
