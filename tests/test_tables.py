"""The network-mode and node-kit input tables: each name spelled once, each row complete, a row enough.

A mode is a row of builder/config/modes.py plus the template parts its fields switch on; an input
is a row of builder/config/kit_inputs.py. These tests keep it so: no other module spells a mode's
or an input's name, every row names only inputs and plugins that exist, and a new row renders
without a change to any module.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from builder.config import INPUT_SECTIONS, KIT_INPUTS, MODES, NETWORK_MODES, RUNTIMES, SDN_FILES_DEFAULT
from builder.config import modes as modes_mod
from builder.config.kit_inputs import providing
from builder.node import render
from builder.sources import kit

ROOT = Path(__file__).resolve().parent.parent
BUILDER = ROOT / "builder"
# The benchmark's payload names the members of a bundle by their file names (crictl.exe), which are
# not the input's name; kubelet's own argument values (--network-plugin=cni) are kubelet's words.
NOT_A_SPELLING = {BUILDER / "bench"}


def spellings(name: str) -> set[str]:
    """The modules of builder/ with `name` as a whole string literal (outside kubelet's Arg values)."""
    found = set()
    for path in BUILDER.rglob("*.py"):
        if any(path.is_relative_to(p) for p in NOT_A_SPELLING):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        args = {id(a) for call in ast.walk(tree) if isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name) and call.func.id == "Arg" for a in call.args}
        if any(isinstance(n, ast.Constant) and n.value == name and id(n) not in args for n in ast.walk(tree)):
            found.add(path.relative_to(ROOT).as_posix())
    return found


@pytest.mark.parametrize("name", [*NETWORK_MODES, *INPUT_SECTIONS, *(i.asset for i in KIT_INPUTS)])
def test_each_mode_and_input_name_is_spelled_in_one_module(name: str) -> None:
    assert len(spellings(name)) == 1, spellings(name)


def test_no_module_lists_the_modes_by_hand() -> None:
    """A text that names several modes (a help line, a question) is made from the table: written out, it would
    go on without the next row."""
    words = re.compile(r"(?<![\w-])(" + "|".join(re.escape(n) for n in NETWORK_MODES) + r")(?![\w-])")
    lists = []
    for path in BUILDER.rglob("*.py"):
        if path == BUILDER / "config" / "modes.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            text = node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""
            if len(set(words.findall(text))) > 1:
                lists.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert lists == []


def test_the_spelling_check_sees_a_second_module(tmp_path: Path) -> None:
    """The check can fail: the name of a mode is found wherever a module writes it."""
    assert spellings("host-gw") == {"builder/config/modes.py"}
    assert len(spellings("hyperv")) > 1  # a word no table owns: several modules spell it
    assert spellings("--network-plugin") == {"builder/config/flagtable.py"}  # flags.py's is an Arg


@pytest.mark.parametrize("mode", MODES, ids=lambda m: m.name)
def test_a_mode_names_only_inputs_and_plugins_there_are(mode: modes_mod.NetworkMode) -> None:
    assert set(mode.inputs) <= set(INPUT_SECTIONS)
    assert set(mode.runtimes) <= set(RUNTIMES) and mode.runtimes
    sdn = {dest.rsplit("/", 1)[-1] for _, _, dest in SDN_FILES_DEFAULT}
    for runtime in mode.runtimes:
        plugin = mode.plugin_for(runtime)
        # A CNI the cluster installs brings its plugin in its own image (cluster_images' layout).
        ships = providing(plugin) is not None or plugin in sdn
        assert ships == (mode.cni_by == modes_mod.BY_SCRIPTS), (runtime, plugin)
    if mode.cluster is not None:  # the cluster runs it all: no node-side piece, no node-kit input
        assert (mode.routes_by, mode.pod_network_by) == (modes_mod.ROUTES_CLUSTER, modes_mod.BY_CLUSTER)
        assert not mode.kube_proxy.on_node and not mode.runs_flanneld and not mode.inputs
        assert mode.kube_proxy.daemonset != bool(mode.kube_proxy.replaced_by)
        assert mode.since >= (1, 26) and mode.runtimes == (modes_mod.CONTAINERD,)
    else:
        assert mode.cni_by == modes_mod.BY_SCRIPTS and mode.kube_proxy.on_node
    if mode.encapsulation == modes_mod.VXLAN:
        assert mode.hns_type == modes_mod.OVERLAY
        assert any(p.port_key == "vxlan_port" and p.protocol == "UDP" for p in mode.firewall)
    assert mode.default_network_name(4096)


def test_an_input_row_is_complete() -> None:
    for row in KIT_INPUTS:
        assert row.sources and all("{version}" in url for url in row.urls.values()), row.name
        assert row.takes and row.licence, row.name
        assert (row.build is not None) == row.buildable, row.name
        if row.build is not None:  # what it builds is what a release of it holds
            assert {f"{name}.exe" for name, _ in row.build.packages} == {path for path, _ in row.takes}


def test_the_node_guide_mode_table_has_a_row_per_mode() -> None:
    guide = (ROOT / "docs" / "node.md").read_text(encoding="utf-8")
    table = guide[guide.index("## Network modes"):guide.index("OutBoundNAT exceptions")]
    assert re.findall(r"^\| `([\w-]+)` \|", table, re.MULTILINE) == list(NETWORK_MODES)


def test_a_new_row_renders_with_no_code_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """A mode that copies l3 under another name renders l3's files, but for the name it prints."""
    from builder.config import Config, KubernetesSection, NetworkSection

    l3 = modes_mod.mode_for("l3")
    copy = dataclasses.replace(l3, name="l3-copy")
    monkeypatch.setattr(modes_mod, "MODES", (*MODES, copy))
    monkeypatch.setattr(modes_mod, "MODES_BY_NAME", {**modes_mod.MODES_BY_NAME, copy.name: copy})

    def files(mode: str) -> dict[str, str]:
        cfg = Config(kubernetes=KubernetesSection(components=("kubelet", "kube-proxy", "kubectl", "kubeadm")),
                     network=NetworkSection(mode=mode, network_name="winnet", control_plane_ip="10.0.0.1"))
        # The name is printed twice: install.ps1's $NetworkMode and README.txt's header.
        shown = ((f"'{mode}'", "'<mode>'"), (f".......... {mode}\r\n", ".......... <mode>\r\n"))
        out = {}
        for f in render.render_bundle(cfg, "v1.30.0"):
            data = f.data.decode("ascii")
            for old, new in shown:
                data = data.replace(old, new)
            out[f.dest] = data
        return out

    assert files("l3-copy") == files("l3")
    assert kit.wanted_sections(Config(network=NetworkSection(mode="l3-copy")), "v1.30.0") == ["cni"]
