"""The one exception tree of staticbuild.

Every error a user can cause is a :class:`StaticbuildError`; the CLI is the only place
that turns one into an exit status (``exit_code``) and a one-line message on stderr.

::

    StaticbuildError (exit 1)
    ├── SpecError             the spec file cannot be read or is not valid (all problems at once)
    ├── SourceError           a source tree cannot be walked (symlink loop, unreadable folder)
    ├── PlanError             the destination cannot be made to match (a folder where a file goes)
    │   └── StalePlanError    a saved plan's inputs changed since it was made
    ├── ApplyError            writing the destination failed part-way (disk full, permission, a
    │                         source vanished); what was finished is recorded, nothing is torn
    ├── LockedError           another staticbuild process is applying the project (apply, watch)
    ├── Cancelled             the user answered no to overwriting files staticbuild did not write
    ├── PostProcessError      a hashed-name or compression step failed (missing reference, cycle)
    ├── StorageError          the object storage refused or could not be reached
    └── ServeError            the dev server cannot start (not allowed, address in use)
"""

from __future__ import annotations

from collections.abc import Sequence


class StaticbuildError(Exception):
    """Base of every error a user can cause; carries the exit status the CLI uses."""

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class SpecError(StaticbuildError):
    """The spec is unreadable or invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


class SourceError(StaticbuildError):
    """A source or app folder could not be walked safely."""


class PlanError(StaticbuildError):
    """The destination cannot be brought to match the spec."""


class StalePlanError(PlanError):
    """A saved plan no longer describes the inputs; it must be made again."""


class ApplyError(StaticbuildError):
    """Carrying out a plan failed; finished files are recorded and nothing is half-written."""


class LockedError(StaticbuildError):
    """Another process holds the project's lock; nothing was changed."""


class Cancelled(StaticbuildError):
    """Asked on a terminal, the user would not let files staticbuild did not write be
    deleted or overwritten; nothing was changed."""


class PostProcessError(StaticbuildError):
    """Post-processing (hashed names, reference rewriting, compression) failed."""


class StorageError(StaticbuildError):
    """The destination storage (e.g. an S3 bucket) refused or could not be reached."""


class ServeError(StaticbuildError):
    """The development server cannot start."""
