"""`builtin` backend conf: the CA global creates and syncs to zones.

    conf:
      caCert:
        RSAbits: 2048      # RSA key size of the CA, 2048..8192 (Kuma's default 2048)
        expiration: 10y    # CA lifetime, one number and one unit (y, w, d, h, m, s, ms)
        keyType: rsa       # mzsim extension: "ec" makes an EC P-256 CA, "rsa" (default) as Kuma

`keyType` is ours, not Kuma's: an EC CA signs much faster, which matters when
a simulated zone issues certificates for thousands of proxies. `RSAbits`
applies to RSA only, so it is rejected together with `keyType: ec`.
"""
from __future__ import annotations

from typing import Any

from ...durations import ROTATION_PATTERN
from ...errors import Violations
from ...schema.shape import check_known, check_mapping, field, is_int, one_of
from ...x509util import KEY_TYPES

MIN_RSA_BITS = 2048
# Kuma sets no upper bound; we cap it so one mesh cannot stall global on key generation.
MAX_RSA_BITS = 8192


def check(v: Violations, conf: dict[str, Any], path: str) -> None:
    check_known(v, conf, path, ("caCert",))
    if "caCert" not in conf:
        return
    ca_path = field(path, "caCert")
    ca = conf["caCert"]
    if not check_mapping(v, ca, ca_path):
        return
    check_known(v, ca, ca_path, ("RSAbits", "expiration", "keyType"))
    key_type = ca.get("keyType", "rsa")
    if "keyType" in ca:
        one_of(v, key_type, field(ca_path, "keyType"), KEY_TYPES)
    if "RSAbits" in ca:
        bits = ca["RSAbits"]
        p = field(ca_path, "RSAbits")
        if key_type == "ec":
            v.add(p, "applies to keyType rsa only: remove it, or set keyType: rsa")
        elif not is_int(bits) or not MIN_RSA_BITS <= bits <= MAX_RSA_BITS:
            v.add(p, f"must be an integer from {MIN_RSA_BITS} to {MAX_RSA_BITS}, got {bits!r}; 2048 is the default")
    if "expiration" in ca:
        exp = ca["expiration"]
        p = field(ca_path, "expiration")
        m = ROTATION_PATTERN.match(exp) if isinstance(exp, str) else None
        if m is None:
            v.add(p, "has to be a valid format, e.g. 10y, 52w or 8760h (one number and one unit: "
                     f"y, w, d, h, m, s, ms), got {exp!r}")
        elif int(m.group(1)) == 0:
            v.add(p, "must be longer than 0: the CA would expire on creation")
