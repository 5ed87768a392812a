"""The command-line shell: typer commands, rich rendering, errors → `Error:` lines and exit codes."""
