"""`provided` backend conf: a CA certificate and key the user supplies.

    conf:
      cert: {secret: ca-cert}   # PEM certificate of the CA (a data source)
      key:  {secret: ca-key}    # its PEM private key (a data source)

Whether the pair is a CA with keyCertSign is checked when the data sources are
read (common/ca/provided), not here: static validation does no I/O.
"""
from __future__ import annotations

from typing import Any

from ...errors import Violations
from ...schema.datasource import required_data_source
from ...schema.shape import check_known


def check(v: Violations, conf: dict[str, Any], path: str) -> None:
    check_known(v, conf, path, ("cert", "key"))
    required_data_source(v, conf, "cert", path, "PEM certificate of the CA")
    required_data_source(v, conf, "key", path, "PEM private key of the CA")
