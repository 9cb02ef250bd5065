"""builder.sources.registry against a fake OCI registry on 127.0.0.1 (token auth, manifests, blobs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_registry import DOCKER_MANIFEST, FakeRegistry, Pushed, digest_of, dumps, hostprocess_base

from builder import oci
from builder.errors import ConfigError, FetchError
from builder.http import HTTPStatusError, Net
from builder.sources.registry import RegistryClient, parse_mirror, resolve_digests

BASE_REPO = "oss/kubernetes/windows-host-process-containers-base-image"


def tag_ref(p: Pushed) -> oci.ImageRef:
    return oci.parse_ref(f"{p.name}:{p.tag}")


def test_a_tag_resolves_to_the_index_digest_after_a_token_challenge(net: Net) -> None:
    with FakeRegistry() as reg:
        pushed = hostprocess_base(reg)
        with RegistryClient(net) as client:
            got = client.resolve(tag_ref(pushed))
    assert got.digest == pushed.digest != pushed.manifest_digest
    assert got.media_type == oci.DOCKER_LIST
    assert got.platforms == (oci.Platform("windows", "amd64"),)
    challenged, token, answered = reg.requests
    assert (challenged.status, token.path, answered.status) == (401, "/token", 200)
    assert token.query == {"service": "fake-registry", "scope": f"repository:{BASE_REPO}:pull"}
    assert "Authorization" not in token.headers and "Authorization" not in challenged.headers
    assert answered.headers["Authorization"] == f"Bearer {reg.issued().pop()}"
    accepted = {a.strip() for a in answered.headers["Accept"].split(",")}
    assert accepted == {oci.OCI_INDEX, oci.OCI_MANIFEST, oci.DOCKER_LIST, oci.DOCKER_MANIFEST}


def test_a_single_manifest_resolves_to_its_own_digest(net: Net) -> None:
    with FakeRegistry() as reg:
        pushed = hostprocess_base(reg, index=False, oci_media=True)
        with RegistryClient(net) as client:
            got = client.resolve(tag_ref(pushed))
    assert (got.digest, got.media_type, got.platforms) == (pushed.manifest_digest, oci.OCI_MANIFEST, ())


def test_a_challenge_without_a_scope_gets_a_pull_token_for_the_repository(net: Net) -> None:
    with FakeRegistry() as reg:
        reg.challenge_scope = False
        pushed = hostprocess_base(reg)
        with RegistryClient(net) as client:
            assert client.resolve(tag_ref(pushed)).digest == pushed.digest
    assert reg.hits("^/token$")[0].query["scope"] == f"repository:{BASE_REPO}:pull"


def test_pull_takes_the_windows_image_of_an_index_and_writes_a_verified_layout(net: Net, tmp_path: Path) -> None:
    with FakeRegistry() as reg:
        pushed = hostprocess_base(reg, linux_too=True, os_version="10.0.17763.1")
        with RegistryClient(net) as client:
            pulled = client.pull(oci.parse_ref(pushed.pinned), tmp_path / "base")
            blob_requests = len(reg.hits("/blobs/"))
            client.pull(oci.parse_ref(pushed.pinned), tmp_path / "base")  # again: every blob is kept
        assert len(reg.hits("/blobs/")) == blob_requests == 2  # the Windows config and layer, not Linux's
    assert pulled.manifest_digest == pushed.manifest_digest
    assert pulled.platform == oci.Platform("windows", "amd64", "10.0.17763.1")
    (entry,), _ = oci.layout_index(tmp_path / "base")
    assert (entry.digest, entry.annotations) == (pushed.manifest_digest, {oci.REF_NAME: pushed.pinned})
    assert entry.platform == pulled.platform
    stored = sorted(p.name for p in (tmp_path / "base/blobs/sha256").iterdir())
    expected = [pushed.digest, pushed.manifest_digest, digest_of(dumps(pushed.config)), digest_of(pushed.layer)]
    assert stored == sorted(oci.digest_hex(d) for d in expected)
    for name in stored:
        assert digest_of((tmp_path / "base/blobs/sha256" / name).read_bytes()) == f"sha256:{name}"


def test_the_token_is_sent_to_the_registry_and_never_to_the_blob_host_it_redirects_to(net: Net,
                                                                                      tmp_path: Path) -> None:
    with FakeRegistry(cdn=True) as reg:
        pushed = hostprocess_base(reg)
        with RegistryClient(net) as client:
            client.pull(oci.parse_ref(pushed.pinned), tmp_path / "base")
    assert [r.status for r in reg.hits("/blobs/")] == [307, 307]
    assert all(r.headers.get("Authorization", "").startswith("Bearer ") for r in reg.hits("/blobs/"))
    assert [r.status for r in reg.cdn_requests] == [200, 200]
    assert not any("Authorization" in r.headers for r in reg.cdn_requests)


def test_a_token_from_one_registry_is_not_sent_to_another(net: Net) -> None:
    with FakeRegistry() as one, FakeRegistry() as two:
        first, second = hostprocess_base(one), hostprocess_base(two)
        with RegistryClient(net) as client:
            client.resolve(tag_ref(first))
            client.resolve(tag_ref(second))
    assert "Authorization" not in two.requests[0].headers
    assert two.requests[0].status == 401
    assert two.requests[-1].headers["Authorization"] == f"Bearer {two.issued().pop()}"


def test_a_digest_header_that_disagrees_with_the_body_is_refused(net: Net) -> None:
    with FakeRegistry() as reg:
        pushed = hostprocess_base(reg)
        reg.lie_digest(pushed.digest)
        with RegistryClient(net) as client, pytest.raises(FetchError) as err:
            client.resolve(tag_ref(pushed))
    assert f"{pushed.name}:{pushed.tag}" in str(err.value)
    assert "Docker-Content-Digest" in str(err.value) and pushed.digest in str(err.value)
    assert err.value.exit_code == 5


def test_a_manifest_that_is_not_the_pinned_digest_is_refused(net: Net, tmp_path: Path) -> None:
    with FakeRegistry() as reg:
        pushed = hostprocess_base(reg, index=False)
        reg.tamper(pushed.manifest_digest, dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                                                  "config": {}, "layers": []}))
        with RegistryClient(net) as client, pytest.raises(FetchError, match="not the digest asked for") as err:
            client.pull(oci.parse_ref(pushed.pinned), tmp_path / "base")
    assert f"{pushed.name}@{pushed.manifest_digest}" in str(err.value)
    assert not (tmp_path / "base").exists()


def test_a_tampered_blob_is_refused_and_nothing_of_it_is_kept(net: Net, tmp_path: Path) -> None:
    with FakeRegistry() as reg:
        pushed = hostprocess_base(reg)
        layer = digest_of(pushed.layer)
        reg.tamper(layer, pushed.layer[:-1] + bytes([pushed.layer[-1] ^ 1]))
        with RegistryClient(net) as client, pytest.raises(FetchError, match="not its digest") as err:
            client.pull(oci.parse_ref(pushed.pinned), tmp_path / "base")
    assert layer in str(err.value) and BASE_REPO in str(err.value)
    blobs = tmp_path / "base/blobs/sha256"
    assert not (blobs / oci.digest_hex(layer)).exists()
    assert [p.name for p in blobs.iterdir() if p.name.startswith(".")] == []
    assert not (tmp_path / "base/index.json").exists()


def test_a_blob_longer_than_its_descriptor_is_refused(net: Net, tmp_path: Path) -> None:
    with FakeRegistry() as reg:
        pushed = hostprocess_base(reg)
        reg.tamper(digest_of(pushed.layer), pushed.layer + b"more")
        with RegistryClient(net) as client, pytest.raises(FetchError, match="more than the"):
            client.pull(oci.parse_ref(pushed.pinned), tmp_path / "base")


def test_an_unknown_tag_is_an_error_naming_registry_repository_and_tag(net: Net) -> None:
    with FakeRegistry() as reg:
        hostprocess_base(reg)
        with RegistryClient(net) as client, pytest.raises(HTTPStatusError) as err:
            client.resolve(oci.parse_ref(f"{reg.host}/{BASE_REPO}:v9.9.9"))
    assert err.value.status == 404
    assert f"{reg.host}/{BASE_REPO}:v9.9.9" in str(err.value)
    assert "MANIFEST_UNKNOWN" in str(err.value) and "Traceback" not in str(err.value)


def test_server_errors_are_retried_with_the_servers_delay(net: Net, sleeps: list[float]) -> None:
    with FakeRegistry() as reg:
        pushed = hostprocess_base(reg)
        reg.fail("/manifests/", 503)
        reg.fail("/manifests/", 429, **{"Retry-After": "7"})
        with RegistryClient(net) as client:
            assert client.resolve(tag_ref(pushed)).digest == pushed.digest
    assert [r.status for r in reg.hits("/manifests/")] == [503, 429, 401, 200]
    assert len(sleeps) == 2 and sleeps[1] == 7.0


def test_a_client_error_is_not_retried(net: Net, sleeps: list[float]) -> None:
    with FakeRegistry() as reg:
        pushed = hostprocess_base(reg)
        reg.fail("/manifests/", 400, times=5)
        with RegistryClient(net) as client, pytest.raises(HTTPStatusError, match="HTTP 400"):
            client.resolve(tag_ref(pushed))
    assert len(reg.hits("/manifests/")) == 1 and sleeps == []


def test_retries_end_with_an_error_that_names_the_image(net: Net, sleeps: list[float]) -> None:
    with FakeRegistry() as reg:
        pushed = hostprocess_base(reg)
        reg.fail("/manifests/", 502, times=10)
        with RegistryClient(net) as client, pytest.raises(FetchError, match="after 3 attempts: HTTP 502") as err:
            client.resolve(tag_ref(pushed))
    assert f"{pushed.name}:{pushed.tag}" in str(err.value)
    assert len(sleeps) == 2


def test_a_private_repository_is_an_error_from_the_token_service(net: Net) -> None:
    with FakeRegistry() as reg:
        pushed = hostprocess_base(reg)
        reg.repo(BASE_REPO).private = True
        with RegistryClient(net) as client, pytest.raises(FetchError, match="refused an anonymous token"):
            client.resolve(tag_ref(pushed))


def test_a_registry_that_wants_a_password_is_a_clear_error(net: Net) -> None:
    with FakeRegistry() as reg:
        pushed = hostprocess_base(reg)
        reg.fail("/manifests/", 401, **{"WWW-Authenticate": 'Basic realm="private"'})
        with RegistryClient(net) as client, pytest.raises(FetchError, match="Basic authentication") as err:
            client.resolve(tag_ref(pushed))
    assert "/token" not in [r.path for r in reg.requests]
    assert pushed.name in str(err.value)


def test_a_token_realm_on_plain_http_elsewhere_is_refused_before_it_is_asked(net: Net) -> None:
    with FakeRegistry() as reg:
        pushed = hostprocess_base(reg)
        reg.fail("/manifests/", 401, **{"WWW-Authenticate": 'Bearer realm="http://auth.example.invalid/token"'})
        with RegistryClient(net) as client, pytest.raises(FetchError, match=r"refused to go to http://auth\.example"):
            client.resolve(tag_ref(pushed))


def test_a_redirect_to_plain_http_elsewhere_is_refused(net: Net, tmp_path: Path) -> None:
    with FakeRegistry() as reg:
        pushed = hostprocess_base(reg)
        reg.fail("/blobs/", 307, Location="http://blobs.example.invalid/layer")
        with RegistryClient(net) as client, pytest.raises(FetchError, match="only https"):
            client.pull(oci.parse_ref(pushed.pinned), tmp_path / "base")


def test_the_mirror_serves_every_image_under_its_prefix(net: Net) -> None:
    upstream = f"mcr.microsoft.com/{BASE_REPO}"
    with FakeRegistry() as reg:
        pushed = hostprocess_base(reg, f"mirror/{upstream}")
        with RegistryClient(net, mirror=f"{reg.host}/mirror") as client:
            got = client.resolve(oci.parse_ref(f"{upstream}:v1.0.0"))
            with pytest.raises(FetchError) as err:
                client.resolve(oci.parse_ref(f"{upstream}:v0.0.1"))
    assert got.digest == pushed.digest
    assert got.ref == oci.parse_ref(f"{upstream}:v1.0.0")
    assert {r.path.split("/manifests/")[0] for r in reg.hits("/manifests/")} == {f"/v2/mirror/{upstream}"}
    assert f"{upstream}:v0.0.1 (through the mirror {reg.host}/mirror)" in str(err.value)
    assert "mirror holds it" in str(err.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("", None),
    ("registry.example.com", ("registry.example.com", "")),
    ("registry.example.com:5000/k8s/mirror/", ("registry.example.com:5000", "k8s/mirror")),
    ("localhost/m", ("localhost", "m")),
])
def test_a_mirror_is_a_registry_host_and_a_prefix(text: str, expected: tuple[str, str] | None) -> None:
    got = parse_mirror(text)
    assert (None if got is None else (got.registry, got.prefix)) == expected


@pytest.mark.parametrize("text", ["https://registry.example.com/m", "mirror/path", "registry.example.com/Upper"])
def test_a_mirror_that_is_not_host_and_prefix_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match=r"images\.mirror"):
        parse_mirror(text, "images.mirror")


def test_an_image_of_a_registry_with_a_port_has_no_place_in_a_mirror() -> None:
    mirror = parse_mirror("mirror.example.com")
    assert mirror is not None
    with pytest.raises(ConfigError, match="with a port"):
        mirror.image(oci.parse_ref("127.0.0.1:5000/a/b:1"))


def test_resolve_digests_gives_each_repository_and_tag_its_digest(net: Net) -> None:
    with FakeRegistry() as reg:
        base = hostprocess_base(reg)
        single = hostprocess_base(reg, "sig-windows/kube-proxy", "v1.30.0", index=False)
        got = resolve_digests([(base.name, "v1.0.0"), (single.name, "v1.30.0")], net=net)
    assert got == {(base.name, "v1.0.0"): base.digest, (single.name, "v1.30.0"): single.manifest_digest}
    assert len(reg.hits("^/token$")) == 2  # one token per repository


def test_resolve_digests_refuses_a_name_that_is_not_a_repository(net: Net) -> None:
    with pytest.raises(ConfigError, match="Not A Repo"):
        resolve_digests([("Not A Repo", "v1")], net=net)


def test_pull_wants_a_digest_and_an_image_for_the_platform(net: Net, tmp_path: Path) -> None:
    with FakeRegistry() as reg:
        pushed = hostprocess_base(reg)
        config = reg.add_blob("linux/only", dumps({"architecture": "amd64", "os": "linux",
                                                   "rootfs": {"type": "layers", "diff_ids": []}}))
        body = dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                      "config": {"mediaType": "application/vnd.docker.container.image.v1+json", **config},
                      "layers": []})
        linux = reg.add_manifest("linux/only", DOCKER_MANIFEST, body, "1")
        with RegistryClient(net) as client:
            with pytest.raises(ConfigError, match="pinned digest"):
                client.pull(tag_ref(pushed), tmp_path / "a")
            with pytest.raises(FetchError, match="is for linux/amd64, not windows/amd64"):
                client.pull(oci.parse_ref(f"{reg.host}/linux/only@{linux}"), tmp_path / "b")


def test_an_index_without_a_windows_image_is_an_error_listing_what_it_has(net: Net, tmp_path: Path) -> None:
    with FakeRegistry() as reg:
        pushed = hostprocess_base(reg, linux_too=True)
        index = json.loads(reg.repo(BASE_REPO).manifests[pushed.digest][1])
        index["manifests"] = index["manifests"][:1]  # the Linux entry only
        digest = reg.add_manifest(BASE_REPO, oci.DOCKER_LIST, dumps(index), "linux-only")
        with RegistryClient(net) as client, pytest.raises(FetchError, match=r"no windows/amd64 .*linux/amd64"):
            client.pull(oci.parse_ref(f"{pushed.name}@{digest}"), tmp_path / "base")


def test_an_oversized_manifest_is_refused(net: Net) -> None:
    with FakeRegistry() as reg:
        pushed = hostprocess_base(reg)
        reg.tamper(pushed.digest, b" " * (oci.MAX_JSON + 1))
        with RegistryClient(net) as client, pytest.raises(FetchError, match="more than the 4194304"):
            client.resolve(tag_ref(pushed))


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest"), [
    ("pause:3.9", "docker.io", "library/pause", "3.9", None),
    ("registry.k8s.io/pause:3.10.2", "registry.k8s.io", "pause", "3.10.2", None),
    ("sigwindowstools/kube-proxy", "docker.io", "sigwindowstools/kube-proxy", None, None),
    ("localhost/a/b", "localhost", "a/b", None, None),
    (f"127.0.0.1:5000/a/b:v1@sha256:{'0' * 64}", "127.0.0.1:5000", "a/b", "v1", f"sha256:{'0' * 64}"),
])
def test_references_split_as_distribution_reads_them(text: str, registry: str, repository: str, tag: str | None,
                                                     digest: str | None) -> None:
    ref = oci.parse_ref(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)


@pytest.mark.parametrize("text", ["registry.k8s.io/Pause:1", "a/b:bad tag", "a/b@sha256:abc", "a//b",
                                  "exa_mple.com:x/y"])
def test_a_malformed_reference_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        oci.parse_ref(text)
