"""Security and robustness of a running agent (a real process on loopback, onnxruntime, torch blocked)."""
from __future__ import annotations

import concurrent.futures
import http.client
import io
import json
import stat
import zipfile
from urllib.parse import urlsplit

import pytest

from test_agent_support import TOKEN, agent, bundle_for, conv_model, hanging_model  # noqa: F401 (fixture)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 4-channel 3x3 conv on 8x8: microseconds per run."""
    return conv_model(tmp_path_factory.mktemp("models") / "tiny.onnx", 4, 8)


def _zip(entries: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data if isinstance(data, bytes) else json.dumps(data))
    return buf.getvalue()


def test_health_is_open_and_info_reports_runtime_and_host(agent):
    health = agent.health()
    assert health["status"] == "ok"
    assert "token" not in json.dumps(health).lower()
    status, info = agent.request("GET", "/info")
    assert status == 200
    assert info["agent"]["runtimes"] == ["onnxruntime"]
    assert info["agent"]["max_upload_bytes"] == 2 * 2 ** 20
    assert info["runtimes"]["onnxruntime"]["available"] is True
    assert "CPUExecutionProvider" in info["runtimes"]["onnxruntime"]["devices"]
    assert info["host"]["cores"] >= 1 and info["host"]["python"]


def test_missing_or_wrong_token_is_401(agent, tiny):
    before = agent.health()["jobs_done"]
    body = bundle_for([tiny])
    for token in (None, "wrong-token-0123456789abcdef", TOKEN[:-1], TOKEN + "x"):
        for method, path, data in (("GET", "/info", None), ("POST", "/measure", body)):
            status, answer = agent.request(method, path, data, token=token)
            assert status == 401, (token, path)
            assert "token" in answer["error"]
    status, _ = agent.request("GET", "/info", headers={"Authorization": "Basic " + TOKEN}, token=None)
    assert status == 401
    assert agent.health()["jobs_done"] == before  # nothing was measured for them


def test_oversize_upload_is_413_and_unread(agent):
    body = b"\0" * (3 * 2 ** 20)  # over the fixture's 2 MB limit
    status, answer = agent.request("POST", "/measure", body)
    assert status == 413
    assert "limit" in answer["error"]
    agent.health()


def test_zip_unpacking_past_the_limit_is_413(agent):
    manifest = {"runtime": "onnxruntime", "models": [{"file": "a.onnx"}]}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        zf.writestr("a.onnx", b"\x08" + b"\0" * (5 * 2 ** 20))
    status, answer = agent.request("POST", "/measure", buf.getvalue())
    assert status == 413, answer


def test_dotdot_names_are_rejected(agent, tiny):
    data = tiny.read_bytes()
    in_manifest = {"runtime": "onnxruntime", "models": [{"file": "../evil.onnx"}]}
    status, answer = agent.request("POST", "/measure", _zip({"manifest.json": in_manifest, "../evil.onnx": data}))
    assert status == 400 and "rejected" in answer["error"]
    in_zip_only = {"runtime": "onnxruntime", "models": [{"file": "ok.onnx"}]}
    status, answer = agent.request("POST", "/measure",
                                   _zip({"manifest.json": in_zip_only, "ok.onnx": data, "../../evil.onnx": data}))
    assert status == 400 and "rejected" in answer["error"]
    for root in (agent.tmpdir, agent.tmpdir.parent, agent.tmpdir.parent.parent):
        assert not (root / "evil.onnx").exists()


def test_unknown_format_is_400(agent, tiny):
    manifest = {"runtime": "onnxruntime", "models": [{"file": "model.pb"}]}
    status, answer = agent.request("POST", "/measure", _zip({"manifest.json": manifest, "model.pb": b"\x08\x01"}))
    assert status == 400 and "unknown format .pb" in answer["error"]
    manifest = {"runtime": "onnxruntime", "models": [{"file": "fake.onnx"}]}
    status, answer = agent.request("POST", "/measure", _zip({"manifest.json": manifest, "fake.onnx": b"#!/bin/sh\n"}))
    assert status == 400 and "does not look like" in answer["error"]


def test_bad_requests_get_clear_4xx(agent, tiny):
    status, answer = agent.request("POST", "/measure", bundle_for([tiny]), headers={"Content-Type": "text/plain"})
    assert status == 400 and "application/zip" in answer["error"]
    status, answer = agent.request("POST", "/measure", bundle_for([tiny], runtime="openvino"))
    assert status == 400 and "serves ['onnxruntime']" in answer["error"]
    status, answer = agent.request("POST", "/measure", bundle_for([tiny], options={"threads": 1, "turbo": True}))
    assert status == 400 and "turbo" in answer["error"] and answer["file"] == "tiny.onnx"
    status, answer = agent.request("POST", "/measure", bundle_for([tiny], protocol={"warmup_runs": 1, "speed": 2}))
    assert status == 400 and "speed" in answer["error"]
    status, answer = agent.request("GET", "/nowhere")
    assert status == 404
    # a raw request without Content-Length
    parts = urlsplit(agent.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.putrequest("POST", "/measure")
    conn.putheader("Authorization", "Bearer " + TOKEN)
    conn.endheaders()
    assert conn.getresponse().status == 411
    conn.close()
    agent.health()


def test_model_that_fails_in_the_runtime_is_422(agent, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x08\x07" + b"\xff" * 64)  # looks like ONNX at a glance, does not parse
    status, answer = agent.request("POST", "/measure", bundle_for([broken]))
    assert status == 422 and answer["file"] == "broken.onnx"
    agent.health()


def test_50_concurrent_requests_all_answered_one_at_a_time_in_order(agent, tiny):
    before = agent.health()["jobs_done"]
    body = bundle_for([tiny])
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda _: agent.request("POST", "/measure", body, timeout=240), range(50)))
    assert [status for status, _ in answers] == [200] * 50, [a for s, a in answers if s != 200][:3]
    jobs = sorted((a["job"] for _, a in answers), key=lambda j: j["ticket"])
    assert len({j["ticket"] for j in jobs}) == 50
    for prev, nxt in zip(jobs, jobs[1:]):
        assert nxt["started"] >= prev["finished"], "two measurements overlapped"
        assert nxt["started"] > prev["started"], "served out of arrival order"
    assert max(j["queued_s"] for j in jobs) > 0
    for _, a in answers:
        t = a["results"][0]["timing"]
        assert a["results"][0]["file"] == "tiny.onnx" and t["count"] >= 5 and 0 < t["p10_ms"] <= t["median_ms"]
    assert agent.health()["jobs_done"] == before + 50


def test_hanging_measurement_times_out_and_agent_keeps_serving(agent, tmp_path, tiny):
    hang = hanging_model(tmp_path / "hang.onnx")
    restarts = agent.health()["worker_restarts"]
    status, answer = agent.request("POST", "/measure", bundle_for([hang], timeout_s=2))
    assert status == 504
    assert "timed out after 2 s" in answer["error"] and "killed" in answer["error"] and answer["file"] == "hang.onnx"
    health = agent.health()
    assert health["worker_restarts"] == restarts + 1
    status, answer = agent.request("POST", "/measure", bundle_for([tiny]))
    assert status == 200 and answer["results"][0]["timing"]["count"] >= 5


def test_uploads_are_private_and_deleted_after(agent):
    roots = [p for p in agent.tmpdir.iterdir() if p.name.startswith("dcnas-agent-")]  # runtimes may leave other files
    assert len(roots) == 1
    assert stat.S_IMODE(roots[0].stat().st_mode) == 0o700
    assert list(roots[0].iterdir()) == [], "request files were left behind"


def test_bundle_failing_its_crc_gets_a_400_json_answer(agent):
    """Issue 30: a zip entry whose CRC-32 does not match left the client without any HTTP answer."""
    from test_agent_support import crc_broken_bundle

    status, answer = agent.request("POST", "/measure", crc_broken_bundle())
    assert status == 400 and "zip entry 'm.onnx' is corrupt" in answer["error"] and "CRC" in answer["error"]
    agent.health()  # and it keeps serving
