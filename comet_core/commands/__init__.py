"""The subcommands of `python -m comet_core`, one module each."""
