"""`signing.timestamp_url` carries an API key in its query: shown and recorded as `?...` only."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from httpserver import Reply, serve
from test_sign import pack_signed, signed_inputs

from builder import config
from builder.bundle import manifest as mf
from builder.errors import PackError

KEY = "tsa-apikey-CANARY-51c2"


def test_the_timestamp_urls_key_is_in_no_log_and_no_error(tmp_path: Path, windows_exe: Path,
                                                          pki: object,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with serve() as tsa:
        tsa.route("/tsa", lambda req: Reply(500, b"no timestamps today"))
        url = tsa.url(f"/tsa?apikey={KEY}")
        inputs = signed_inputs(tmp_path, windows_exe, pki, timestamp_url=url)  # type: ignore[arg-type]
        with pytest.raises(PackError) as err:
            pack_signed(inputs)
    assert any(r.path.startswith("/tsa?apikey=") for r in tsa.requests)  # the real URL was used
    assert "osslsigncode" in str(err.value) and "/tsa?..." in str(err.value)
    assert KEY not in str(err.value)
    assert KEY not in caplog.text


def test_the_manifest_and_the_provenance_record_the_timestamp_url_without_its_query() -> None:
    cfg = config.Config(signing=config.SigningSection(enabled=True, timestamp_url=f"https://tsa.example/ts?key={KEY}",
                                                      thumbprint="A" * 40))
    recorded = cfg.to_dict()
    assert recorded["signing"]["timestampUrl"] == "https://tsa.example/ts?..."
    manifest = {"config": recorded, "configDigest": cfg.digest(), "kubernetes": {"commit": None, "treeState": "x",
                "source": "release", "gitVersion": "v1.37.0", "binaries": {}}, "go": {"version": ""},
                "sdn": {"url": "u", "archiveSha256": "0" * 64, "commit": "0" * 40}, "compressor": "c", "inputs": []}
    prov = mf.build_provenance(manifest, "b.zip", "0" * 64, "0", 0)
    assert KEY not in str(prov)
