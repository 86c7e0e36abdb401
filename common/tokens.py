"""Zone tokens: JWTs (ES256) signed by a key global keeps as the GlobalSecret
`zone-token-signing-key-1` (Kuma's name), so it is durable and survives
restarts. The private key is never sent to zones (see common/kds/kinds.py)."""
from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from .resources import secret
from .store import Store
from .x509util import key_to_pem, load_key

SIGNING_KEY_NAME = "zone-token-signing-key-1"
KEY_ID = "1"
ISSUER = "mzsim-global"


class TokenError(Exception):
    """Why a token was refused; safe to log (never contains the token)."""


class ZoneTokens:
    def __init__(self, store: Store):
        self.store = store
        self._key: ec.EllipticCurvePrivateKey | None = None

    def _signing_key(self) -> ec.EllipticCurvePrivateKey:
        if self._key is None:
            res = self.store.get("GlobalSecret", SIGNING_KEY_NAME)
            if res is None:
                key = ec.generate_private_key(ec.SECP256R1())
                res = self.store.put(secret(SIGNING_KEY_NAME, key_to_pem(key), kind="GlobalSecret"))
            loaded = load_key(res.secret_bytes())
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise TokenError(f"GlobalSecret {SIGNING_KEY_NAME} does not hold an EC (ES256) private key")
            self._key = loaded
        return self._key

    def issue(self, zone: str, valid_for_seconds: float) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": zone, "zone": zone, "iat": now,
                  "exp": now + int(valid_for_seconds), "jti": str(uuid.uuid4())}
        return jwt.encode(claims, self._signing_key(), algorithm="ES256", headers={"kid": KEY_ID})

    def verify(self, token: str | None, zone: str | None) -> dict[str, Any]:
        """Return the claims, or raise TokenError with a reason fit for both logs."""
        if not token:
            raise TokenError("no zone token presented; create one with `mzsim token zone --zone NAME` "
                             "and pass it with --token-file or MZSIM_ZONE_TOKEN")
        try:
            claims = jwt.decode(token, self._signing_key().public_key(), algorithms=["ES256"],
                                issuer=ISSUER, options={"require": ["exp", "iat", "zone"]})
        except jwt.ExpiredSignatureError:
            raise TokenError("zone token has expired; create a new one with `mzsim token zone`") from None
        except jwt.InvalidSignatureError:
            raise TokenError("zone token signature is invalid: "
                             "it was not signed by this global control plane") from None
        except jwt.PyJWTError as e:
            raise TokenError(f"zone token is invalid: {e}") from None
        if zone and claims.get("zone") != zone:
            raise TokenError(f"zone token is for zone {claims.get('zone')!r}, but this zone is {zone!r}")
        return claims
