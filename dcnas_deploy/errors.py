"""User-facing errors: the CLI prints their message (no traceback) and exits with code 2."""


class DcnasError(Exception):
    """Base for errors caused by the user's input or environment, with an actionable message."""


class ConfigError(DcnasError, ValueError):
    """Malformed YAML, unknown keys, out-of-range values, bad architecture files."""


class MissingDependencyError(DcnasError, ImportError):
    """An optional runtime is not installed; the message names the extra to install."""


class DeviceError(DcnasError):
    """A device is unknown, unreachable, or failed while measuring."""


def require(module: str, extra: str):
    """Import an optional module or raise MissingDependencyError naming the pip extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"'{module}' is not installed: pip install 'dcnas-deploy[{extra}]' ({exc})") from exc


class DcnasWarning(UserWarning):
    """Something the user should know that does not stop the command (the CLI prints it as one line)."""


def warn(message: str) -> None:
    """Issue a DcnasWarning (printed once per message by the CLI, visible to library callers too)."""
    import warnings

    warnings.warn(message, DcnasWarning, stacklevel=2)
