"""builder.fsutil.read_json_object: every cache record and build stamp is read through it."""

from __future__ import annotations

from pathlib import Path

from builder import config
from builder.fsutil import read_json_object
from builder.sources import build, kit


def test_only_a_json_object_counts_as_a_record(tmp_path: Path) -> None:
    cases = {"object": ('{"key": "k"}', {"key": "k"}), "list": ("[1, 2]", None), "text": ("not json", None),
             "string": ('"k"', None), "binary": ("\udcff", None)}
    for name, (text, expected) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8", errors="surrogateescape")
        assert read_json_object(tmp_path / name) == expected, name
    assert read_json_object(tmp_path / "missing") is None


def test_a_stamp_that_is_not_an_object_means_build_again(tmp_path: Path) -> None:
    """A stamp holding JSON of another shape (a list, a string) is a cache miss, not an AttributeError."""
    stamp = tmp_path / "stamp.json"
    stamp.write_text('["key", "outputs"]', encoding="utf-8")
    assert build._reuse(stamp, "key", tmp_path, config.KubernetesSection(), ["kubelet"]) is None
    go_build = config.kit_input("cni").build
    assert go_build is not None
    assert kit._reuse(stamp, "key", tmp_path, go_build) is None
