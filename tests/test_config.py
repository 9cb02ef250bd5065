"""Configuration: every problem reported at once, each with key, file:line and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from kube_tree import make_tree

from builder import cli, config
from builder.errors import ConfigError


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "kubernetes", with_git=False)


def load(tmp_path: Path, text: str, tree: Path | None = None, env: dict[str, str] | None = None,
         **over: object) -> config.Config:
    path = tmp_path / "bundle.yaml"
    path.write_text(text, encoding="utf-8")
    overrides = config.Overrides(config=path, kube_root=tree, cache_dir=tmp_path / "cache", **over)  # type: ignore[arg-type]
    return config.load(overrides, env or {}, tmp_path)


def problems(tmp_path: Path, text: str, tree: Path | None = None, **over: object) -> str:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text, tree, **over)
    return str(err.value)


def test_defaults(tmp_path: Path, tree: Path) -> None:
    cfg = load(tmp_path, "", tree)
    assert cfg.bundle.name == "kubernetes-windows-node" and cfg.bundle.revision == 1
    assert cfg.kubernetes.components == ("kubelet", "kube-proxy", "kubectl")
    assert cfg.kubernetes.source == "build" and cfg.kubernetes.root == tree.resolve()
    assert cfg.sdn.commit == config.SDN_COMMIT and cfg.sdn.pinned
    assert [f.dest for f in cfg.sdn.files] == ["helper.psm1", "hns.psm1", "hns.v2.psm1", "cni/wincni.exe"]
    assert cfg.network.network_name == "l2bridge" and cfg.node.install_dir == "C:\\k"
    assert cfg.options.dist == tmp_path / "dist"


def test_every_problem_is_reported_with_its_line(tmp_path: Path, tree: Path) -> None:
    text = (
        "bundle:\n"
        "  name: Bad Name\n"          # line 2
        "  revision: two\n"           # line 3
        "network:\n"
        "  cluster_cidr: 10.244.0.0/33\n"   # line 5
        "  dns_service_ip: 10.96.0.300\n"   # line 6
        "  mode: bgp\n"               # line 7
        "  colour: blue\n"            # line 8
        "kubernetes:\n"
        "  version: 1.37\n"           # line 10
        "node:\n"
        "  install_dir: \\\\server\\share\n"  # line 12
        "  kubelet_extra_args: ['--v=2', '--x=$(calc)']\n"  # line 13
    )
    msg = problems(tmp_path, text, tree)
    path = tmp_path / "bundle.yaml"
    for line, key in [(2, "bundle.name"), (3, "bundle.revision"), (5, "network.cluster_cidr"),
                      (6, "network.dns_service_ip"), (7, "network.mode"), (8, "network.colour"),
                      (10, "kubernetes.version"), (12, "node.install_dir"), (13, "node.kubelet_extra_args[1]")]:
        assert f"{path}:{line}: {key}:" in msg, (key, msg)
    assert f"use one of {', '.join(config.NETWORK_MODES)}" in msg
    assert "unknown key; valid keys of network:" in msg
    assert "kubernetes.version: must be a version like v1.37.0, got float 1.37" in msg


def test_missing_tree_and_non_tree(tmp_path: Path) -> None:
    msg = problems(tmp_path, "")
    assert "kubernetes.root: no Kubernetes tree given" in msg and "--kube-root" in msg
    (tmp_path / "empty").mkdir()
    msg = problems(tmp_path, "kubernetes:\n  root: empty\n")
    assert f"{tmp_path / 'bundle.yaml'}:2: kubernetes.root:" in msg and "not a Kubernetes source tree" in msg


def test_tree_from_environment(tmp_path: Path, tree: Path) -> None:
    assert load(tmp_path, "", env={"KUBE_ROOT": str(tree)}).kubernetes.root == tree.resolve()
    gopath = tmp_path / "gopath"
    make_tree(gopath / "src/k8s.io/kubernetes", with_git=False)
    cfg = load(tmp_path, "", env={"GOPATH": str(gopath)})
    assert cfg.kubernetes.root == (gopath / "src/k8s.io/kubernetes").resolve()


def test_secrets_are_refused(tmp_path: Path, tree: Path) -> None:
    msg = problems(tmp_path, "node:\n  join_token: abcdef.0123456789abcdef\n", tree)
    assert "node.join_token" in msg and "run-time parameters of join-node.ps1" in msg
    assert "abcdef.0123456789abcdef" not in msg


def test_network_relations(tmp_path: Path, tree: Path) -> None:
    msg = problems(tmp_path, "network:\n  service_cidr: 10.96.0.0/12\n  dns_service_ip: 10.0.0.10\n", tree)
    assert "network.dns_service_ip: 10.0.0.10 is outside service_cidr 10.96.0.0/12" in msg
    msg = problems(tmp_path, "network:\n  cluster_cidr: 10.96.0.0/16\n", tree)
    assert "overlaps cluster_cidr" in msg


def test_docker_runtime_refused_from_1_24(tmp_path: Path) -> None:
    msg = problems(tmp_path, "kubernetes:\n  source: release\n  version: v1.24.0\nnode:\n  runtime: docker\n")
    assert "node.runtime: docker (dockershim) was removed in Kubernetes 1.24" in msg


def test_unpinned_sdn_needs_the_flag(tmp_path: Path, tree: Path) -> None:
    msg = problems(tmp_path, "sdn:\n  commit: master\n", tree)
    assert "sdn.commit: 'master' is a branch or tag" in msg and "--allow-unpinned" in msg
    assert not load(tmp_path, "sdn:\n  commit: master\n", tree, allow_unpinned=True).sdn.pinned


def test_yaml_syntax_error_has_a_line(tmp_path: Path, tree: Path) -> None:
    msg = problems(tmp_path, "bundle:\n  name: [unclosed\n", tree)
    assert f"{tmp_path / 'bundle.yaml'}:" in msg and "not valid YAML" in msg


def test_duplicate_key(tmp_path: Path, tree: Path) -> None:
    assert "bundle.name: duplicate key" in problems(tmp_path, "bundle:\n  name: a\n  name: b\n", tree)


def test_windows_paths() -> None:
    assert config.windows_path_problem("C:\\k") is None
    assert config.windows_path_problem("D:\\kube nodes\\k1") is None
    for bad in ["k", "\\\\srv\\share", "C:\\k\\..\\x", "C:\\CON", "C:\\k\\nul.txt", "C:\\a'b", "C:\\a$b"]:
        assert config.windows_path_problem(bad) is not None, bad


def test_control_characters_are_refused(tmp_path: Path, tree: Path) -> None:
    msg = problems(tmp_path, 'network:\n  nic_name: "Ether\\nnet"\n', tree)
    assert "network.nic_name: must not contain NUL, control characters or newlines" in msg


def test_cli_exits_non_zero_and_writes_nothing(tmp_path: Path, tree: Path, monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bundle.yaml").write_text("network:\n  service_cidr: nope\n")
    code = cli.main(["bundle", "--kube-root", str(tree), "--cache-dir", "cache"])
    assert code == ConfigError.exit_code
    assert "network.service_cidr" in caplog.text
    assert not (tmp_path / "dist").exists() and not (tmp_path / "cache").exists()


def test_cli_refuses_a_token_argument(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["publish", "--token", "ghp_canary123"]) == ConfigError.exit_code
    assert "GH_TOKEN" in caplog.text and "ghp_canary123" not in caplog.text


def test_digest_changes_with_the_configuration(tmp_path: Path, tree: Path) -> None:
    a = load(tmp_path, "", tree)
    b = load(tmp_path, "network:\n  mode: l3\n", tree)
    assert a.digest() != b.digest() and a.digest() == load(tmp_path, "", tree).digest()
    assert a.digest().startswith("sha256:")


def test_commands_that_read_dist_need_no_tree(tmp_path: Path) -> None:
    cfg = load(tmp_path, "", needs_source=False)
    assert cfg.kubernetes.root is None


def test_digest_does_not_depend_on_where_the_tree_is(tmp_path: Path, tree: Path) -> None:
    other = make_tree(tmp_path / "elsewhere" / "kubernetes", with_git=False)
    a, b = load(tmp_path, "", tree), load(tmp_path, "", other)
    assert a.kubernetes.root != b.kubernetes.root
    assert a.digest() == b.digest()
    assert str(tmp_path) not in str(a.to_dict())


# --------------------------------------------------------------------------- hostile YAML


def test_an_alias_bomb_is_refused_quickly() -> None:
    import time

    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        levels.append(f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [" + ", ".join([f"*{prev}"] * 9) + "]")
    text = "\n".join(levels) + "\n"
    assert len(text) < 400
    start = time.monotonic()
    with pytest.raises(ConfigError, match=r"bomb.yaml:\d+: the YAML expands to more than"):
        config.parse_yaml(text, "bomb.yaml")
    assert time.monotonic() - start < 1.0


def test_a_list_or_mapping_as_a_key_is_refused_with_its_line() -> None:
    with pytest.raises(ConfigError, match=r"k.yaml:3: a list is used as a key under kubernetes; keys must be"):
        config.parse_yaml("kubernetes:\n  version: v1.37.0\n  ? [a, b]\n  : 1\n", "k.yaml")
    with pytest.raises(ConfigError, match=r"k.yaml:1: a mapping is used as a key"):
        config.parse_yaml("{a: 1}: 2\n", "k.yaml")


def test_a_few_aliases_still_work() -> None:
    doc = config.parse_yaml("node:\n  labels: &l {a: b}\nx: *l\n", "ok.yaml")
    assert doc.data["x"] == {"a": "b"}


# --------------------------------------------------------------------------- source URLs and pins

RELEASE = "kubernetes:\n  source: release\n  version: v1.37.0\n"


def test_a_url_with_credentials_is_refused_at_load_with_the_fix(tmp_path: Path) -> None:
    text = problems(tmp_path, RELEASE + "  release_url: https://me:hunter2@mirror.example/release\n")
    assert "bundle.yaml:4: kubernetes.release_url:" in text
    assert "credentials" in text and "netrc" in text and "hunter2" not in text
    assert "sdn.url" in problems(tmp_path, "sdn:\n  url: https://u:p@example.com/{commit}.zip\n",
                                 kube_versions=("v1.37.0",))


def test_plain_http_needs_the_flag_except_on_this_machine(tmp_path: Path) -> None:
    text = problems(tmp_path, RELEASE + "  release_url: http://mirror.example/release\n")
    assert "kubernetes.release_url" in text and "--allow-insecure-http" in text
    assert load(tmp_path, RELEASE + "  release_url: http://mirror.example/release\n",
                allow_insecure_http=True).options.allow_insecure_http
    assert load(tmp_path, RELEASE + "  release_url: http://127.0.0.1:8080/release\n").kubernetes.release_url
    assert cli.main(["render", "--config", str(tmp_path / "bundle.yaml"), "--allow-insecure-http",
                     "--out", str(tmp_path / "out")]) == 0  # render takes no --cache-dir: it downloads nothing


def test_query_strings_are_not_recorded(tmp_path: Path) -> None:
    cfg = load(tmp_path, RELEASE + "  release_url: https://mirror.example/release?sig=SECRET\n"
               "sdn:\n  url: https://mirror.example/{commit}.zip?token=SECRET2\n")
    assert cfg.kubernetes.release_url.endswith("?sig=SECRET")  # still used to download
    recorded = str(cfg.to_dict())
    assert "SECRET" not in recorded and "https://mirror.example/release?..." in recorded


def test_pins_are_read_and_checked(tmp_path: Path) -> None:
    sha = "ab" * 32
    cfg = load(tmp_path, RELEASE + f"  pins:\n    v1.37.0:\n      kubelet: {sha}\n      kube-proxy: {sha}\n")
    assert cfg.kubernetes.pins == (("v1.37.0", "kube-proxy", sha), ("v1.37.0", "kubelet", sha))
    text = problems(tmp_path, RELEASE + "  pins:\n    v1.37:\n      kubelet: x\n    v1.36.0:\n      kubelet: 12\n"
                    "      kubefoo: " + sha + "\n")
    assert "kubernetes.pins.v1.37" in text
    assert "bundle.yaml:8: kubernetes.pins.v1.36.0.kubelet: 12 must be 64 lower-case hex digits" in text
    assert "kubernetes.pins.v1.36.0.kubefoo: 'kubefoo' is not a component" in text


def test_a_bad_url_is_named_without_its_query(tmp_path: Path) -> None:
    text = problems(tmp_path, RELEASE + "  release_url: ftp://mirror.example/release?sig=SECRET\n")
    assert "kubernetes.release_url" in text and "SECRET" not in text


def test_the_default_cni_source_comes_pinned(tmp_path: Path, tree: Path) -> None:
    """The default plugins version is pinned by its content digest; another version, or h1: '', is not."""
    known = "h1:p8Tyl5eca6tIvl1kwL2ZQhHdqOtRQl7qK/Uqhf9a6b4="
    assert load(tmp_path, "", tree).input_section("cni").h1 == known
    assert load(tmp_path, "cni:\n  version: v1.9.0\n", tree).input_section("cni").h1 == ""
    assert load(tmp_path, "cni:\n  h1: ''\n", tree).input_section("cni").h1 == ""
    shipped = load(tmp_path, (Path(__file__).resolve().parent.parent / "bundle.yaml").read_text(), tree)
    assert shipped.input_section("cni").h1 == known and shipped.input_section("cni").version == "v1.9.1"
