"""Every option and argument of every `mzsim` command explains itself."""
from __future__ import annotations

import argparse

from mzsim.cli import build_parser


def parsers(p: argparse.ArgumentParser, path: str = "mzsim"):
    yield path, p
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, f"{path} {name}")


def test_every_option_and_argument_has_a_help_text():
    missing = [f"{path} {'/'.join(a.option_strings) or a.dest}"
               for path, p in parsers(build_parser()) for a in p._actions
               if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction) and not a.help]
    assert missing == []


def test_vault_setup_root_out_names_its_real_default():
    [vault] = [p for path, p in parsers(build_parser()) if path == "mzsim vault setup"]
    text = vault.format_help()
    assert "PKI-root.pem" not in text and "kmesh-pki-default-root.pem" in " ".join(text.split())
