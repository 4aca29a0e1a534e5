"""The agent's wire format (dcnas_deploy.agent.bundle): names, formats, limits, unpacking."""
from __future__ import annotations

import io
import json
import stat
import zipfile

import numpy as np
import pytest

from dcnas_deploy.agent.bundle import (MANIFEST, BundleError, Manifest, ModelEntry, build_bundle, check_name,
                                       encode_inputs, feeds_for, parse_manifest, unpack_bundle)
from dcnas_deploy.agent.runner import FifoLock
from test_agent_support import conv_model


def _zip(entries: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data if isinstance(data, bytes) else json.dumps(data))
    return buf.getvalue()


@pytest.mark.parametrize("name", ["../evil.onnx", "a/b.onnx", "/etc/passwd", "..", ".hidden.onnx", "a\\b.onnx",
                                  "x" * 200 + ".onnx", "a b.onnx", "", "ok..onnx"])
def test_unsafe_names_are_rejected(name):
    with pytest.raises(BundleError, match="rejected"):
        check_name(name)


def test_safe_names_pass():
    assert check_name("0003_conv3x3-c16.onnx") == "0003_conv3x3-c16.onnx"


def test_manifest_checks_formats_pairs_and_shapes():
    base = {"runtime": "onnxruntime", "models": [{"file": "a.onnx"}]}
    assert parse_manifest(base).models[0].file == "a.onnx"
    with pytest.raises(BundleError, match="unknown format .pb"):
        parse_manifest({**base, "models": [{"file": "a.pb"}]})
    with pytest.raises(BundleError, match="needs its weights"):
        parse_manifest({**base, "models": [{"file": "a.xml"}]})
    with pytest.raises(BundleError, match="only for OpenVINO"):
        parse_manifest({**base, "models": [{"file": "a.onnx", "weights": "a.bin"}]})
    with pytest.raises(BundleError, match="positive ints"):
        parse_manifest({**base, "models": [{"file": "a.onnx", "inputs": {"x": [1, -3]}}]})
    with pytest.raises(BundleError, match="unknown manifest keys"):
        parse_manifest({**base, "command": "rm -rf /"})
    with pytest.raises(BundleError, match="used twice"):
        parse_manifest({**base, "models": [{"file": "a.onnx"}, {"file": "a.onnx"}]})
    with pytest.raises(BundleError, match="non-empty"):
        parse_manifest({**base, "models": []})


def test_unpack_stores_under_agent_made_names_with_private_modes(tmp_path):
    model = conv_model(tmp_path / "my conv.onnx", 4, 8)
    x = np.arange(4 * 8 * 8, dtype=np.float32).reshape(1, 4, 8, 8)
    specs, blobs = encode_inputs("a.onnx", {"x": x})
    specs2, blobs2 = encode_inputs("b.onnx", [(1, 4, 8, 8)])
    manifest = Manifest("onnxruntime", [ModelEntry("a.onnx", None, specs), ModelEntry("b.onnx", None, specs2)])
    data = build_bundle(manifest, {"a.onnx": model.read_bytes(), "b.onnx": model.read_bytes(), **blobs, **blobs2})
    blob = tmp_path / "req.zip"
    blob.write_bytes(data)
    dest = tmp_path / "dest"
    dest.mkdir()
    parsed, stored = unpack_bundle(blob, dest, 10 * 2 ** 20)
    assert [s.name for s in stored] == ["a.onnx", "b.onnx"]
    assert sorted(p.name for p in dest.iterdir()) == ["m00000.in000.npy", "m00000.onnx", "m00001.onnx"]
    for p in dest.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    feeds = feeds_for(stored[0])
    np.testing.assert_array_equal(feeds["x"], x)
    assert feeds_for(stored[1]) == [(1, 4, 8, 8)]


def test_openvino_pair_keeps_one_stem(tmp_path):
    xml = b"<?xml version='1.0'?><net name='n'></net>"
    manifest = Manifest("openvino", [ModelEntry("0000_net.xml", "0000_net.bin")])
    blob = tmp_path / "req.zip"
    blob.write_bytes(build_bundle(manifest, {"0000_net.xml": xml, "0000_net.bin": b"\0" * 16}))
    _, stored = unpack_bundle(blob, tmp_path, 2 ** 20)
    assert stored[0].path.name == "m00000.xml" and (tmp_path / "m00000.bin").read_bytes() == b"\0" * 16


def test_unpack_rejects_traversal_entry_and_mismatches(tmp_path):
    manifest = {"runtime": "onnxruntime", "models": [{"file": "a.onnx"}]}
    onnx_bytes = b"\x08\x08" + b"\0" * 10
    cases = {
        "traversal": ({MANIFEST: manifest, "a.onnx": onnx_bytes, "../evil.onnx": onnx_bytes}, "rejected"),
        "missing": ({MANIFEST: manifest}, "missing"),
        "extra": ({MANIFEST: manifest, "a.onnx": onnx_bytes, "b.onnx": onnx_bytes}, "unexpected"),
        "no manifest": ({"a.onnx": onnx_bytes}, "no manifest"),
        "not onnx": ({MANIFEST: manifest, "a.onnx": b"MZ\x90\x00not a model"}, "does not look like"),
    }
    for label, (entries, message) in cases.items():
        blob = tmp_path / f"{label}.zip"
        blob.write_bytes(_zip(entries))
        dest = tmp_path / label.replace(" ", "_")
        dest.mkdir()
        with pytest.raises(BundleError, match=message) as info:
            unpack_bundle(blob, dest, 2 ** 20)
        assert info.value.status == 400, label
    assert not (tmp_path / "evil.onnx").exists()


def test_unpacked_size_limit_is_413(tmp_path):
    manifest = {"runtime": "onnxruntime", "models": [{"file": "a.onnx"}]}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest))
        zf.writestr("a.onnx", b"\x08" + b"\0" * (3 * 2 ** 20))  # 3 MB of zeros: a few kB zipped
    blob = tmp_path / "bomb.zip"
    blob.write_bytes(buf.getvalue())
    assert blob.stat().st_size < 2 ** 20
    with pytest.raises(BundleError, match="over this agent's limit") as info:
        unpack_bundle(blob, tmp_path, 2 ** 20)
    assert info.value.status == 413


def test_not_a_zip_is_400(tmp_path):
    blob = tmp_path / "x.zip"
    blob.write_bytes(b"hello")
    with pytest.raises(BundleError, match="not a zip") as info:
        unpack_bundle(blob, tmp_path, 2 ** 20)
    assert info.value.status == 400


def test_fifo_lock_grants_in_arrival_order():
    import threading
    import time

    lock = FifoLock()
    order = []
    first = lock.acquire()  # hold it while the others queue up
    threads = []
    for i in range(8):
        t = threading.Thread(target=lambda i=i: (lock.acquire(), order.append(i), lock.release()))
        t.start()
        threads.append(t)
        while lock.waiting < i + 2:  # wait until thread i holds its ticket
            time.sleep(0.001)
    assert first == 0 and order == []
    lock.release()
    for t in threads:
        t.join(5)
    assert order == list(range(8))
    assert lock.waiting == 0
