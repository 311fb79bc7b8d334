"""Sub-commands of `patchflow`; cli.py assembles them. Each module owns one command group."""
