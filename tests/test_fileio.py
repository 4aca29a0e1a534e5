"""fileio: the one strict YAML reader, output paths checked before any work, and $DCNAS_* folder lists."""
from __future__ import annotations

import pytest

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.fileio import atomic_write_text, check_output_path, env_folders, load_yaml_file, parse_yaml_text


@pytest.mark.parametrize("data, match", [
    (b"a: 1\x00", r"binary data \(NUL byte at offset 4\)"),
    (b"\xff\xfe\x00a", "binary data"),
    (b"name: caf\xe9\n", r"not UTF-8 text \(byte 0xe9 at offset 9\).*save it as UTF-8"),
    (b"a: [1, 2\n", r"x\.yaml, line 2, column 1: not valid YAML"),
    (b"a: 1\nb: 2\na: 3\n", r"x\.yaml, line 3, column 1: .*duplicate key 'a' \(first at line 1\): keep only one"),
    (b"outer:\n  k: 1\n  k: 2\n", r"duplicate key 'k'"),
])
def test_bad_yaml_is_a_config_error_naming_the_file(tmp_path, data, match):
    (tmp_path / "x.yaml").write_bytes(data)
    with pytest.raises(ConfigError, match=match):
        load_yaml_file(tmp_path / "x.yaml", "preset file")


def test_good_yaml_reads_as_before(tmp_path):
    (tmp_path / "x.yaml").write_bytes("\ufeffname: café\nlist: [1, 2]\nnested: {a: {b: 1}, c: 2}\n".encode("utf-8"))
    assert load_yaml_file(tmp_path / "x.yaml", "f") == {"name": "café", "list": [1, 2], "nested": {"a": {"b": 1},
                                                                                                  "c": 2}}
    assert parse_yaml_text("a: &x {k: 1}\nb: {<<: *x, j: 2}\n", "s") == {"a": {"k": 1}, "b": {"k": 1, "j": 2}}
    assert load_yaml_file(_empty(tmp_path), "f") is None
    with pytest.raises(ConfigError, match="is a folder: give the path of a .yaml file"):
        load_yaml_file(tmp_path, "preset file")
    with pytest.raises(ConfigError, match="not found"):
        load_yaml_file(tmp_path / "absent.yaml", "preset file")


def _empty(folder):
    (folder / "e.yaml").write_bytes(b"")
    return folder / "e.yaml"


def test_output_paths_are_checked_before_the_work(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    (tmp_path / "d").mkdir()
    assert check_output_path(tmp_path / "new" / "a.yaml", "--out", suffixes=(".yaml",)) == tmp_path / "new" / "a.yaml"
    assert check_output_path(tmp_path / "d", "--out", folder=True) == tmp_path / "d"
    cases = [
        (dict(path=tmp_path / "d"), "is an existing folder: give a file path"),
        (dict(path=tmp_path / "f.txt", folder=True), "is an existing file, not a folder"),
        (dict(path=tmp_path / "f.txt" / "a.yaml"), "is a file, so nothing can be written under it"),
        (dict(path=tmp_path / "a.txt", suffixes=(".yaml", ".yml")), "use one of .yaml, .yml"),
        (dict(path=tmp_path / "f.txt", inputs=[tmp_path / "f.txt"]), "is also an input"),
        (dict(path=tmp_path / "d" / ".." / "f.txt", inputs=[str(tmp_path / "f.txt")]), "is also an input"),
    ]
    for kwargs, match in cases:
        with pytest.raises(ConfigError, match=match):
            check_output_path(what="--out", **kwargs)


def test_atomic_write_refuses_a_folder_target(tmp_path):
    with pytest.raises(ConfigError, match="is an existing folder"):
        atomic_write_text(tmp_path, "x")
    assert list(tmp_path.iterdir()) == []


def test_env_folders_must_exist(tmp_path, monkeypatch):
    (tmp_path / "f").write_text("x")
    monkeypatch.setenv("DCNAS_X", f"{tmp_path}:")
    assert env_folders("DCNAS_X", "things") == [tmp_path]
    monkeypatch.delenv("DCNAS_X")
    assert env_folders("DCNAS_X", "things") == []
    for value, match in ((str(tmp_path / "nope"), "does not exist"), (str(tmp_path / "f"), "is a file")):
        monkeypatch.setenv("DCNAS_X", value)
        with pytest.raises(ConfigError, match=f"{match}: it must list folders of things; fix it or unset DCNAS_X"):
            env_folders("DCNAS_X", "things")
