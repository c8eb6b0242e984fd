"""HMAC-signed, expiring links for uploads and results, standing in for S3 presigned URLs.

A link is ``/files/<kind>/<file_id>/<name>?expires=<epoch>&signature=<hex>``; the signature covers the HTTP
method, kind, file id, expiry and (for presigned PUTs created with an explicit ``contenttype``) the content
type, as S3 signs ``content-type;host``. The name is cosmetic and not signed. The secret lives in the data
directory so links survive a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from pathlib import Path
from urllib.parse import urlencode

from .errors import ApiError


class Signer:
    def __init__(self, secret: bytes):
        self._secret = secret

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> Signer:
        path = data_dir / "signing.key"
        if not path.exists():
            path.write_bytes(secrets.token_bytes(32))
            path.chmod(0o600)
        return cls(path.read_bytes())

    def _digest(self, method: str, kind: str, file_id: str, expires: int, content_type: str) -> str:
        message = "\n".join((method, kind, file_id, str(expires), content_type)).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign(
        self, method: str, kind: str, file_id: str, name: str, expires: float, content_type: str = ""
    ) -> str:
        """Return the signed path and query (no scheme or host)."""
        expires_at = int(expires)
        query = {
            "expires": expires_at,
            "signature": self._digest(method, kind, file_id, expires_at, content_type),
        }
        if content_type:
            query["ct"] = "1"
        return f"/files/{kind}/{file_id}/{name}?{urlencode(query)}"

    def verify(
        self, method: str, kind: str, file_id: str, query: dict[str, str], content_type: str = ""
    ) -> None:
        """Raise 403 when the signature is missing, tampered with or expired."""
        try:
            expires = int(query["expires"])
            signature = query["signature"]
        except (KeyError, ValueError):
            raise ApiError(403, "The link is not signed.") from None
        signed_type = content_type if query.get("ct") == "1" else ""
        expected = self._digest(method, kind, file_id, expires, signed_type)
        if not hmac.compare_digest(expected, signature):
            detail = "The link's signature does not match"
            if signed_type:
                detail += f" (was Content-Type {content_type!r} the one the link was created for?)"
            raise ApiError(403, detail + ".")
        if expires < time.time():
            raise ApiError(403, "The link has expired.")
