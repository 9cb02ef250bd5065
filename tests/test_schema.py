"""bundle.schema.json: generated from the model, committed, and in agreement with the loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from builder import cli, config
from builder.config import schema
from builder.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    data = json.loads((REPO / schema.SCHEMA_FILE).read_text())
    jsonschema.Draft202012Validator.check_schema(data)
    return jsonschema.Draft202012Validator(data)


def test_committed_schema_is_what_the_model_generates(repo_root: Path) -> None:
    committed = (repo_root / schema.SCHEMA_FILE).read_text()
    assert committed == schema.dump(schema.generate()), (
        "bundle.schema.json is out of date: run `python -m builder schema --out bundle.schema.json`")


def test_bundle_yaml_points_editors_at_the_schema(repo_root: Path) -> None:
    first = (repo_root / "bundle.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=./bundle.schema.json"


def test_schema_command_prints_and_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == schema.generate()
    assert cli.main(["schema", "--out", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text()) == schema.generate()


def _load(tmp_path: Path, data: Any) -> None:
    path = tmp_path / "bundle.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    config.load(config.Overrides(config=path, needs_source=False), {}, tmp_path)


def test_defaults_are_accepted(validator: jsonschema.Draft202012Validator, repo_root: Path, tmp_path: Path) -> None:
    shipped = yaml.safe_load((repo_root / "bundle.yaml").read_text())
    assert list(validator.iter_errors(shipped)) == []
    assert list(validator.iter_errors({})) == []
    # Every section written out with the model's own defaults.
    full = config.Config().to_dict()
    full["node"]["labels"] = {"example.com/pool": "windows"}
    full["kubernetes"]["pins"] = {"v1.37.0": {"kubelet": "a" * 64}}
    full["network"]["network_name"] = "l2bridge"
    assert list(validator.iter_errors(full)) == []
    _load(tmp_path, full)  # and the loader agrees


REJECTED = [
    ("unknown section", {"bundel": {}}),
    ("unknown key", {"network": {"cidr": "10.0.0.0/8"}}),
    ("a token", {"node": {"join_token": "abc"}}),
    ("wrong type", {"bundle": {"revision": "three"}}),
    ("boolean for a number", {"network": {"vxlan_port": True}}),
    ("bad choice", {"network": {"mode": "bgp"}}),
    ("bad list item", {"kubernetes": {"components": ["kubelet", "kube-proxy", "kube-scheduler"]}}),
    ("out of range", {"network": {"vxlan_vni": 12}}),
    ("revision 0", {"bundle": {"revision": 0}}),
    ("sdn file without sha256", {"sdn": {"files": [{"path": "a/b.psm1"}]}}),
    ("section not a mapping", {"node": ["a"]}),
    ("pin of an unknown component", {"kubernetes": {"pins": {"v1.37.0": {"kube-scheduler": "a" * 64}}}}),
    ("pin that is not a sha256", {"kubernetes": {"pins": {"v1.37.0": {"kubelet": "abc"}}}}),
]


@pytest.mark.parametrize(("what", "data"), REJECTED, ids=[w for w, _ in REJECTED])
def test_what_the_loader_rejects_the_schema_rejects(validator: jsonschema.Draft202012Validator, tmp_path: Path,
                                                    what: str, data: dict[str, Any]) -> None:
    assert list(validator.iter_errors(data)), f"the schema accepts {what}"
    with pytest.raises(ConfigError):
        _load(tmp_path, data)


def test_every_section_and_key_of_the_model_is_in_the_schema() -> None:
    props = schema.generate()["properties"]
    for name, section in config.Config().to_dict().items():
        keys = set(section) | ({"root"} if name == "kubernetes" else set())
        assert set(props[name]["properties"]) == keys, name
