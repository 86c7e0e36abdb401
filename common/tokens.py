"""Zone and user tokens: JWTs signed by keys global keeps as GlobalSecrets
`zone-token-signing-key-N` and `user-token-signing-key-N` (Kuma's names), so
they are durable and survive restarts. As in Kuma, a token is verified against
the key its `kid` names, new tokens are signed with the highest N, and deleting
a key revokes every token it signed. None of these keys is sent to zones
(see common/kds/kinds.py)."""
from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .resources import Resource, secret
from .store import Change, Store
from .x509util import key_to_pem, load_key

log = logging.getLogger("mzsim.tokens")

ZONE_KEY_PREFIX = "zone-token-signing-key-"
USER_KEY_PREFIX = "user-token-signing-key-"
SIGNING_KEY_NAME = ZONE_KEY_PREFIX + "1"  # the one global creates on first start
ADMIN_TOKEN_SECRET = "admin-user-token"
REVOCATIONS_SECRET = "zone-token-revocations"
ADMIN_USER = ADMIN_GROUP = "mesh-system:admin"
ISSUER = "mzsim-global"
_KEY_NAME = re.compile(r"^(zone|user)-token-signing-key-(\d{1,9})$")

SigningKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class TokenError(Exception):
    """Why a token was refused; safe to log (never contains the token)."""


def is_signing_key_name(name: str) -> bool:
    return _KEY_NAME.match(name) is not None


def is_private_global_secret(name: str) -> bool:
    """GlobalSecrets that never leave global: signing keys, the admin token, revocations."""
    return is_signing_key_name(name) or name in (ADMIN_TOKEN_SECRET, REVOCATIONS_SECRET)


def _algorithm(key: object) -> str | None:
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
        return "RS256"
    return None


def signing_key_problem(data: bytes) -> str:
    """'' if `data` is a usable signing key, else why not (never quoting the data)."""
    try:
        key = load_key(data)
    except (ValueError, TypeError) as e:
        return ("must be an unencrypted PEM private key (EC P-256 or RSA of at least 2048 bits), "
                f"e.g. from `openssl ecparam -name prime256v1 -genkey | openssl pkcs8 -topk8 -nocrypt`: "
                f"{type(e).__name__}")
    if _algorithm(key) is None:
        return (f"holds a {type(key).__name__.lstrip('_')} key; signing keys must be EC P-256 (ES256) "
                "or RSA of at least 2048 bits (RS256)")
    return ""


def revoked_ids(store: Store) -> frozenset[str]:
    """The token ids in the GlobalSecret zone-token-revocations (comma- or line-separated, as Kuma)."""
    res = store.get("GlobalSecret", REVOCATIONS_SECRET)
    if res is None:
        return frozenset()
    try:
        text = res.secret_bytes().decode()
    except (ValueError, UnicodeDecodeError):
        log.error("GlobalSecret %s is not base64 text of token ids; ignoring it", REVOCATIONS_SECRET)
        return frozenset()
    return frozenset(t.strip() for t in re.split(r"[,\s]+", text) if t.strip())


@dataclass(frozen=True)
class _Key:
    serial: int
    key: SigningKey
    alg: str


class Signer:
    """Signs and verifies one kind of token with the keys `{prefix}N` in `store`."""

    def __init__(self, store: Store, prefix: str, what: str):
        self.store = store
        self.prefix = prefix
        self.what = what  # "zone token" / "user token", for messages
        self._lock = threading.Lock()
        self._keys: dict[int, _Key] | None = None
        store.add_listener(self._on_change)

    def _on_change(self, changes: list[Change]) -> None:
        if any(c.kind == "GlobalSecret" and c.name.startswith(self.prefix) for c in changes):
            self._keys = None

    def keys(self) -> dict[int, _Key]:
        keys = self._keys
        if keys is not None:
            return keys
        with self._lock:
            keys = {}
            for res in self.store.list("GlobalSecret"):
                m = _KEY_NAME.match(res.name)
                if not m or not res.name.startswith(self.prefix):
                    continue
                keys_ok = self._load(res)
                if keys_ok is not None:
                    keys[int(m.group(2))] = _Key(int(m.group(2)), *keys_ok)
            self._keys = keys
            return keys

    def _load(self, res: Resource) -> tuple[SigningKey, str] | None:
        try:
            key = load_key(res.secret_bytes())
        except (ValueError, TypeError) as e:
            log.error("GlobalSecret %s is not a PEM private key (%s); skipping it: tokens it signed are refused",
                      res.name, type(e).__name__)
            return None
        alg = _algorithm(key)
        if alg is None or not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
            log.error("GlobalSecret %s holds an unsupported key type; skipping it", res.name)
            return None
        return key, alg

    def ensure_key(self) -> None:
        """Create key 1 if no usable key exists (first start)."""
        if not self.keys():
            n = 1
            while self.store.get("GlobalSecret", f"{self.prefix}{n}") is not None:
                n += 1  # a bad stored key keeps its name; the new one takes the next
            self.store.put(secret(f"{self.prefix}{n}", key_to_pem(ec.generate_private_key(ec.SECP256R1())),
                                  kind="GlobalSecret"))
            self._keys = None
            log.debug("created signing key %s%d", self.prefix, n)

    def sign(self, claims: dict[str, Any], valid_for_seconds: float) -> str:
        self.ensure_key()
        k = self.keys()[max(self.keys())]
        now = int(time.time())
        body = {"iss": ISSUER, "iat": now, "exp": now + int(valid_for_seconds), "jti": str(uuid.uuid4()), **claims}
        return jwt.encode(body, k.key, algorithm=k.alg, headers={"kid": str(k.serial)})

    def decode(self, token: str, required: list[str]) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as e:
            raise TokenError(f"{self.what} is invalid: {e}") from None
        kid = str(header.get("kid", ""))
        k = self.keys().get(int(kid)) if kid.isdigit() else None
        if k is None:
            raise TokenError(f"{self.what} was signed with key {self.prefix}{kid or '?'}, which global does not "
                             "have (deleted keys revoke their tokens); get a new token")
        try:
            return jwt.decode(token, k.key.public_key(), algorithms=[k.alg], issuer=ISSUER,
                              options={"require": ["exp", "iat", *required]})
        except jwt.ExpiredSignatureError:
            raise TokenError(f"{self.what} has expired; get a new one") from None
        except jwt.InvalidSignatureError:
            raise TokenError(f"{self.what} signature is invalid: "
                             "it was not signed by this global control plane") from None
        except jwt.PyJWTError as e:
            raise TokenError(f"{self.what} is invalid: {e}") from None


class ZoneTokens:
    def __init__(self, store: Store):
        self.store = store
        self.signer = Signer(store, ZONE_KEY_PREFIX, "zone token")

    def issue(self, zone: str, valid_for_seconds: float) -> str:
        return self.signer.sign({"sub": zone, "zone": zone}, valid_for_seconds)

    def verify(self, token: str | None, zone: str | None) -> dict[str, Any]:
        """Return the claims, or raise TokenError with a reason fit for both logs."""
        if not token:
            raise TokenError("no zone token presented; create one with `mzsim token zone --zone NAME` "
                             "and pass it with --token-file or MZSIM_ZONE_TOKEN")
        claims = self.signer.decode(token, ["zone"])
        if zone and claims.get("zone") != zone:
            raise TokenError(f"zone token is for zone {claims.get('zone')!r}, but this zone is {zone!r}")
        if str(claims.get("jti", "")) in revoked_ids(self.store):
            raise TokenError(f"zone token {claims.get('jti')} is revoked (GlobalSecret {REVOCATIONS_SECRET}); "
                             "get a new one with `mzsim token zone`")
        return claims


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]


ADMIN = User(ADMIN_USER, (ADMIN_GROUP, "mesh-system:authenticated"))
ANONYMOUS = User("mesh-system:anonymous", ("mesh-system:unauthenticated",))


class UserTokens:
    def __init__(self, store: Store):
        self.store = store
        self.signer = Signer(store, USER_KEY_PREFIX, "user token")

    def issue(self, name: str, groups: list[str], valid_for_seconds: float) -> str:
        return self.signer.sign({"sub": name, "name": name, "groups": list(groups)}, valid_for_seconds)

    def verify(self, token: str) -> User:
        claims = self.signer.decode(token, ["name"])
        groups = claims.get("groups") or []
        if not isinstance(claims["name"], str) or not isinstance(groups, list):
            raise TokenError("user token is invalid: name must be a string and groups a list")
        return User(claims["name"], (*(str(g) for g in groups), "mesh-system:authenticated"))
