"""The exceptions vramcalc raises. Library code raises only these; the CLI turns them into
`Error: <what> — <what to do>` lines on stderr with the exit code each class carries."""

from __future__ import annotations


class VramcalcError(Exception):
    """Base error: `what` went wrong, `todo` says what the user can do about it."""

    exit_code = 1

    def __init__(self, what: str, todo: str | None = None) -> None:
        self.what = what
        self.todo = todo
        super().__init__(what if todo is None else f"{what} — {todo}")


class UsageError(VramcalcError):
    """Bad command-line input: a count, label, size, flag value or format name we cannot read."""

    exit_code = 2


class UnknownFormatError(UsageError):
    """A format name that is not in the registry."""


class RegistryError(VramcalcError):
    """A formats TOML file (shipped or the user's) that does not validate."""


class SourceError(VramcalcError):
    """A model source (file, folder, config) that cannot be read or is malformed."""


class HubError(VramcalcError):
    """The Hub (or the local cache standing in for it) could not give us what we need."""


class ArchitectureError(VramcalcError):
    """A config lacks a field the calculation needs."""
