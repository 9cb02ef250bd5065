"""`publish --sigstore`: sign each zip keylessly with sigstore and put `<zip>.sigstore.json` beside it.

Keyless signing needs an OIDC identity token, and Fulcio and Rekor on the network, so it runs in
GitHub Actions only (a job with `permissions: id-token: write`); anywhere else it stops with the
reason. It cannot run offline, so the tests cover only that refusal. The token is a secret: it is
handed to the sigstore package and never logged. `verify --sigstore-identity/--sigstore-issuer`
checks the bundle it writes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from ..errors import PublishError
from ..fsutil import atomic_write

log = logging.getLogger(__name__)

SUFFIX = ".sigstore.json"


def bundle_path(zip_path: Path) -> Path:
    return zip_path.with_name(zip_path.name + SUFFIX)


def check_ready(zips: list[Path], env: Mapping[str, str]) -> list[Path]:
    """The zips still to sign; when there are any, refuse now (before dist/ is verified) if this is
    no GitHub Actions job with an OIDC identity, or the sigstore package is missing."""
    todo = [z for z in zips if not bundle_path(z).is_file()]
    if not todo:
        return []
    if not env.get("ACTIONS_ID_TOKEN_REQUEST_URL"):
        msg = ("--sigstore signs with GitHub Actions' OIDC identity: run it in a workflow job with "
               "`permissions: id-token: write` (ACTIONS_ID_TOKEN_REQUEST_URL is not set here)")
        raise PublishError(msg)
    try:
        import sigstore.sign  # noqa: F401
    except ImportError as err:
        msg = "--sigstore needs the sigstore package: pip install 'k8s-windows-bundle[sign]'"
        raise PublishError(msg) from err
    return todo


def sign_zips(zips: list[Path], env: Mapping[str, str]) -> list[Path]:
    """Sign each zip that has no `.sigstore.json` yet (a rerun keeps the first signature); return the new ones."""
    todo = check_ready(zips, env)
    if not todo:
        return []
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken, detect_credential
    from sigstore.sign import SigningContext

    written = []
    try:
        credential = detect_credential()
        if credential is None:
            msg = "--sigstore: GitHub Actions gave no OIDC token; does the job have `permissions: id-token: write`?"
            raise PublishError(msg)
        context = SigningContext.from_trust_config(ClientTrustConfig.production())
        with context.signer(IdentityToken(credential), cache=True) as signer:
            for zip_path in todo:
                bundle = signer.sign_artifact(zip_path.read_bytes())
                atomic_write(bundle_path(zip_path), bundle.to_json().encode())
                log.info("signed %s with sigstore: %s", zip_path.name, bundle_path(zip_path).name)
                written.append(bundle_path(zip_path))
    except SigstoreError as err:
        msg = f"--sigstore: signing failed: {type(err).__name__}; nothing was published"
        raise PublishError(msg) from None  # the error's text may quote the token's claims
    return written
