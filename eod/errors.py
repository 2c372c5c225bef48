"""Errors the CLI turns into a one-line message and a non-zero exit."""


class EodError(Exception):
    """A refusal or failure that the user should read as one line."""

    exit_code = 2


class ConfigError(EodError):
    """The configuration (environment) is missing or malformed."""


class InputError(EodError):
    """An input (argument, captured row, file) is invalid; nothing was written."""


class ServiceError(EodError):
    """An embedded or external service could not be started or reached."""

    exit_code = 3


def first_line(error: BaseException | str | None, default: str = "") -> str:
    """The first non-empty line of an error (or its type's name): what a one-line
    message shows of it."""
    text = str(error or "").strip()
    if text:
        return text.splitlines()[0].strip()
    if isinstance(error, BaseException):
        return type(error).__name__
    return default
