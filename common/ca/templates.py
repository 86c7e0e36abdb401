"""The commonName template of Kuma: text with `{{ tag "NAME" }}` directives."""
from __future__ import annotations

import re

from ..x509util import Identity

_DIRECTIVE = re.compile(r"{{\s*tag\s+\"([^\"]+)\"\s*}}")
_ANY_DIRECTIVE = re.compile(r"{{.*?}}")


def template_error(template: str) -> str | None:
    """None if the template is valid, else a message saying how to fix it."""
    rest = _DIRECTIVE.sub("", template)
    bad = _ANY_DIRECTIVE.search(rest)
    if bad or "{{" in rest or "}}" in rest:
        return 'only {{ tag "TAG" }} directives are supported, e.g. {{ tag "kuma.io/service" }}.mesh'
    return None


def render_common_name(template: str, identity: Identity) -> str:
    if not template:
        return ""
    return _DIRECTIVE.sub(lambda m: identity.tag_value(m.group(1)), template)
