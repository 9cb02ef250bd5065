"""The values `_signature_check.ps1.j2` needs: is the bundle signed, and by whom.

The thumbprint goes into install.ps1 as a literal, so the check on the node trusts what the
signed script says, not what manifest.json (an unsigned file) says.
"""

from __future__ import annotations

import re
from typing import Any

from ..config import Config
from ..errors import RenderError


def signature_context(cfg: Config) -> dict[str, Any]:
    s = cfg.signing
    if s.enabled and not re.fullmatch(r"[0-9A-F]{40}", s.thumbprint):
        msg = "signing.enabled is true but the signer's certificate was not read: check the signing section"
        raise RenderError(msg)
    return {"signing_enabled": s.enabled, "signing_thumbprint": s.thumbprint, "signing_subject": s.subject}
