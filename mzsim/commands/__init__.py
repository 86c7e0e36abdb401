"""One module per subcommand group; see mzsim/cli.py."""
