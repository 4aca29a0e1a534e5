"""File plumbing: atomic writes, strict YAML reading, and output paths checked before any work starts."""
from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable, List, Optional, Sequence


def atomic_write(path: os.PathLike | str, write: Callable[[str], object]) -> Path:
    """Call write(tmp_path) on a temp file next to path, then os.replace it into place."""
    p = Path(path)
    if p.is_dir():
        from dcnas_deploy.errors import ConfigError

        raise ConfigError(f"{p} is an existing folder: give a file name to write")
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the permissions open() would
        os.replace(tmp, p)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and disk_full(exc):  # name the file the user asked for, not the temp file
            raise OSError(exc.errno, exc.strerror or "No space left on device", str(p)) from None
        raise
    return p


def disk_full(exc: BaseException) -> bool:
    """Whether `exc` says the disk (or the user's quota) is full."""
    import errno

    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def atomic_write_text(path: os.PathLike | str, text: str) -> Path:
    """Write text atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def atomic_write_bytes(path: os.PathLike | str, data: bytes) -> Path:
    """Write bytes atomically."""
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def check_output_path(path: os.PathLike | str, what: str, *, folder: bool = False,
                      inputs: Iterable[Optional[os.PathLike | str]] = (), suffixes: Sequence[str] = ()) -> Path:
    """`path` if it can be written as a file (or a folder); ConfigError before any work when it cannot.

    Refused: an existing folder where a file goes (and the reverse), a parent that is a file or not
    writable, a suffix outside `suffixes`, and an output that is one of `inputs` (it would be overwritten).
    """
    from dcnas_deploy.errors import ConfigError

    p = Path(path).expanduser()
    if folder and p.exists() and not p.is_dir():
        raise ConfigError(f"{what} {p} is an existing file, not a folder: give a folder path (it is created)")
    if not folder and p.is_dir():
        example = p / ("out" + (suffixes[0] if suffixes else p.suffix))
        raise ConfigError(f"{what} {p} is an existing folder: give a file path, e.g. {example}")
    if not folder and suffixes and p.suffix.lower() not in suffixes:
        raise ConfigError(f"{what} {p} has suffix {p.suffix or '(none)'!r}; use one of {', '.join(suffixes)}")
    for src in inputs:
        if src is not None and _same_file(p, Path(src)):
            raise ConfigError(f"{what} {p} is also an input ({src}): writing it would destroy the input; "
                              f"give another output path")
    parent = p if folder else p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{what} {p}: {parent} is a file, so nothing can be written under it; give another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{what} {p}: no permission to write in {parent}; give a path you can write to")
    return p


def env_folders(var: str, what: str) -> List[Path]:
    """The folders listed in environment variable `var` (os.pathsep-separated); each must be an existing folder."""
    from dcnas_deploy.errors import ConfigError

    out = []
    for entry in os.environ.get(var, "").split(os.pathsep):
        if not entry:
            continue
        p = Path(entry).expanduser()
        if not p.is_dir():
            kind = "is a file" if p.exists() else "does not exist"
            raise ConfigError(f"${var} names {p}, which {kind}: it must list folders of {what}; "
                              f"fix it or unset {var}")
        out.append(p)
    return out


def _same_file(a: Path, b: Path) -> bool:
    """Whether a and b name the same file (an existing one, or the same resolved path)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def load_yaml_file(path: os.PathLike | str, what: str):
    """The parsed YAML of a file; missing, binary, non-UTF-8, invalid or duplicate-key YAML raises ConfigError."""
    from dcnas_deploy.errors import ConfigError

    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{what} {p} is a folder: give the path of a .yaml file")
    if not p.is_file():
        raise ConfigError(f"{what} not found: {p} (check the path)")
    return parse_yaml_text(p.read_bytes(), f"{p}", what)


def parse_yaml_text(data: bytes | str, source: str, what: str = "YAML"):
    """yaml.safe_load of UTF-8 text that refuses binary content and duplicate keys (ConfigError naming source)."""
    import yaml

    from dcnas_deploy.errors import ConfigError

    if isinstance(data, bytes):
        nul = data.find(b"\0")
        if nul >= 0:
            raise ConfigError(f"{source}: binary data (NUL byte at offset {nul}), not a text {what}: "
                              f"give the .yaml file")
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{source}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}), "
                              f"not a text {what}: save it as UTF-8 or give the .yaml file") from None
    if len(data) > MAX_YAML_CHARS:
        raise ConfigError(f"{source}: {len(data):,} characters is far more than any {what} holds (at most "
                          f"{MAX_YAML_CHARS:,}): give the right file")
    loader = _unique_key_loader()(data)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_expanded_size(node, source, what)
        return loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{where}: not valid YAML: {exc.problem or exc.context}; fix the file there") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}; fix the file") from None
    finally:
        loader.dispose()


MAX_YAML_CHARS = 32 * 1024 * 1024
"""The largest YAML text read (the biggest LUT is ~100 kB)."""
MAX_YAML_NODES = 1_000_000
"""The most values a YAML document may hold once its aliases are expanded (a LUT: ~10,000)."""


def _check_expanded_size(root, source: str, what: str) -> None:
    """ConfigError when the document, its aliases (*name) expanded, holds over MAX_YAML_NODES values: nested
    aliases ("billion laughs") grow exponentially, and whatever walks the result would exhaust memory."""
    import yaml

    from dcnas_deploy.errors import ConfigError

    sizes: dict = {}
    stack = [(root, False)]
    while stack:  # post-order, iterative: deep nesting cannot hit Python's recursion limit
        node, done = stack.pop()
        if not done and id(node) in sizes:
            continue
        children = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                    else list(node.value) if isinstance(node, yaml.SequenceNode) else [])
        if not done:
            sizes[id(node)] = 0  # a placeholder: a recursive alias counts once, not forever
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children)
        if sizes[id(node)] > MAX_YAML_NODES:
            raise ConfigError(f"{source}: its aliases (*name) expand to over {MAX_YAML_NODES:,} values, far more "
                              f"than any {what} holds (an alias bomb?): write the values out, without nested "
                              f"anchors and aliases")


@functools.lru_cache(maxsize=1)
def _unique_key_loader():
    """A yaml SafeLoader whose mappings refuse a key given twice (the second would silently win)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *anchor` keys may be overridden by explicit ones
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)):
                    continue  # unhashable keys are SafeLoader's own error
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first at line {seen[key] + 1}): keep only one",
                        key_node.start_mark)
                seen[key] = key_node.start_mark.line
            return super().construct_mapping(node, deep)

    return UniqueKeyLoader


def load_torch_file(path: os.PathLike | str, what: str, weights_only: bool = True):
    """torch.load onto the CPU; a missing, truncated or corrupt file raises ConfigError naming `what`."""
    import torch

    from dcnas_deploy.errors import ConfigError

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} not found: {p}")
    try:
        return torch.load(p, map_location="cpu", weights_only=weights_only)
    except Exception as exc:  # torch raises many types for truncated/corrupt files
        raise ConfigError(f"{p}: not a readable {what} ({type(exc).__name__}: {exc})") from None


def _umask() -> int:
    """The process umask (read without changing it for longer than a moment)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
