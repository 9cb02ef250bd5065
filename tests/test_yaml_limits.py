"""A configuration that nests too deep or refers to itself is a configuration error with its line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from builder.config.yamlread import parse_yaml
from builder.errors import ConfigError

CASES = {
    "self-referencing list": ("bundle:\n  name: x\nnode:\n  labels: &loop [*loop]\n", 4, "contains itself"),
    "self-referencing mapping": ("node:\n  labels: &loop {a: *loop}\n", 2, "contains itself"),
    "5,000 nested [": ("bundle:\n  name: x\nnode:\n  labels: " + "[" * 5000 + "]" * 5000 + "\n", 4,
                       "nests more than 64 levels"),
    "a hundred nested mappings": ("a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 100)), 65,
                                  "nests more than 64 levels"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_deep_or_self_referencing_yaml_is_a_configuration_error_with_its_line(case: str) -> None:
    text, line, reason = CASES[case]
    with pytest.raises(ConfigError, match=reason) as err:
        parse_yaml(text, "bundle.yaml")
    assert err.value.exit_code == 2
    assert str(err.value).startswith(f"bundle.yaml:{line}: ")


def test_the_command_says_so_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "bundle.yaml").write_text(CASES["self-referencing list"][0])
    res = subprocess.run([sys.executable, "-m", "builder", "check", "--config", str(tmp_path / "bundle.yaml"),
                          "--kube-version", "v1.37.0"], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert res.returncode == 2
    assert "bundle.yaml:4:" in res.stderr + res.stdout
    assert "Traceback" not in res.stderr


def test_shared_aliases_still_expand() -> None:
    doc = parse_yaml("x: &pair [1, 2]\ny: [*pair, *pair]\n", "bundle.yaml")
    assert doc.data == {"x": [1, 2], "y": [[1, 2], [1, 2]]}
