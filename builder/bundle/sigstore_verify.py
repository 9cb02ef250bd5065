"""Check `<zip>.sigstore.json`, the keyless signature `publish --sigstore` uploads beside a bundle.

Offline: the trusted root is the one the `sigstore` package ships (or a pinned file given with
`--sigstore-trusted-root`), and the bundle carries its own transparency-log proof, so nothing is
fetched. An old embedded root cannot check bundles signed after a key rotation: pin a current one.
"""

from __future__ import annotations

from pathlib import Path


def check_bundle(zip_path: Path, identity: str | None, issuer: str | None, trusted_root: Path | None) -> list[str]:
    """Problems of `<zip>.sigstore.json` against the expected identity and issuer (both are needed)."""
    name = f"{zip_path.name}.sigstore.json"
    if identity is None or issuer is None:
        return [f"{zip_path.name}: give both --sigstore-identity and --sigstore-issuer to check {name}"]
    bundle_path = zip_path.with_name(name)
    if not bundle_path.is_file():
        return [f"{name} is missing, but --sigstore-identity asks for a sigstore signature of {zip_path.name}"]
    try:
        from sigstore.errors import Error as SigstoreError
        from sigstore.models import Bundle, TrustedRoot
        from sigstore.verify import Verifier, policy
    except ImportError:
        return ["checking a sigstore bundle needs the sigstore package: pip install 'k8s-windows-bundle[sign]'"]
    try:
        bundle = Bundle.from_json(bundle_path.read_bytes())
        verifier = (Verifier(trusted_root=TrustedRoot.from_file(str(trusted_root))) if trusted_root is not None
                    else Verifier.production(offline=True))
        verifier.verify_artifact(zip_path.read_bytes(), bundle, policy.Identity(identity=identity, issuer=issuer))
    except (SigstoreError, ValueError, OSError) as err:
        return [f"{name}: the sigstore signature of {zip_path.name} does not verify: {err}"]
    return []
