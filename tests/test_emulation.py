"""An emulated host is never mistaken for real hardware (issue 28): its fingerprint carries the emulation, a LUT
profiled on it says so in its provenance, and `search` refuses to hold a latency budget against such a table unless
allowed explicitly. Fast: no emulator is run here (tests/test_arm64_agent.py runs the real aarch64 agent)."""
from __future__ import annotations

from pathlib import Path

import pytest

from dcnas_deploy.errors import ConfigError
from dcnas_deploy.lut import host_tables
from dcnas_deploy.lut.profiler import _open_lut
from dcnas_deploy.lut.table import LUT
from dcnas_deploy.runtimes.devices import load_device
from dcnas_deploy.runtimes.fingerprint import (EMULATION_ENV, arch_family, compare, emulation, fingerprint,
                                               local_cpu, short_key)
from dcnas_deploy.runtimes.protocol import QUICK
from dcnas_deploy.search.constraints import ALLOW_EMULATED_OPTION, build_constraints
from dcnas_deploy.space import SearchSpace

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "luts" / "cpu-c8-64x64-x4.yaml"
COMMITTED_SPACE = SearchSpace(width=8, scale=4, hr_size=(64, 64))
X86_CPUINFO = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 207\nflags\t\t: fpu sse avx2\n"
ARM_CPUINFO = ("processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
               "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd08\n")
EMULATED = "user-mode emulation (userland aarch64, kernel x86_64)"


def _kernel(tmp_path: Path, arch: str) -> str:
    path = tmp_path / "arch"
    path.write_text(arch + "\n")
    return str(path)


def test_qemu_user_is_told_by_the_kernels_architecture(tmp_path):
    """qemu-user reports the guest's machine through uname but leaves /proc/sys/kernel/arch (and, in 7.2,
    /proc/cpuinfo) to the host; the kernel's family decides, whatever /proc/cpuinfo claims (newer qemu fakes it)."""
    for cpuinfo in (X86_CPUINFO, ARM_CPUINFO):
        found = emulation("aarch64", _kernel(tmp_path, "x86_64"), cpuinfo, env={})
        assert found == EMULATED
    assert "userland x86_64, kernel aarch64" in emulation("x86_64", _kernel(tmp_path, "aarch64"), "", env={})


def test_real_hardware_and_32_bit_userlands_are_not_emulation(tmp_path):
    assert emulation("aarch64", _kernel(tmp_path, "aarch64"), ARM_CPUINFO, env={}) is None
    assert emulation("x86_64", _kernel(tmp_path, "x86_64"), X86_CPUINFO, env={}) is None
    assert emulation("armv7l", _kernel(tmp_path, "aarch64"), ARM_CPUINFO, env={}) is None  # 32-bit on a 64-bit kernel
    assert emulation("i686", _kernel(tmp_path, "x86_64"), X86_CPUINFO, env={}) is None
    assert [arch_family(m) for m in ("amd64", "armv8l", "arm64", "ppc64le", "riscv64", "")] == \
        ["x86", "arm", "arm", "ppc", "riscv", ""]


def test_without_the_kernel_file_cpuinfo_of_another_family_tells_it(tmp_path):
    missing = str(tmp_path / "no-such-file")
    assert emulation("aarch64", missing, X86_CPUINFO, env={}) == \
        "user-mode emulation (userland aarch64, /proc/cpuinfo of an x86 CPU)"
    assert emulation("aarch64", missing, ARM_CPUINFO, env={}) is None
    assert emulation("aarch64", missing, "", env={}) is None  # nothing to tell by: not claimed


def test_declared_emulation_is_kept_and_added_to_a_detected_one(tmp_path):
    declared = {EMULATION_ENV: "qemu-system-aarch64, TCG"}
    assert emulation("aarch64", _kernel(tmp_path, "aarch64"), ARM_CPUINFO, env=declared) == "qemu-system-aarch64, TCG"
    assert emulation("aarch64", _kernel(tmp_path, "x86_64"), "", env=declared) == EMULATED + ": qemu-system-aarch64, TCG"
    assert emulation("aarch64", _kernel(tmp_path, "aarch64"), ARM_CPUINFO, env={EMULATION_ENV: "0"}) is None


def test_this_host_is_not_emulated(monkeypatch):
    monkeypatch.delenv(EMULATION_ENV, raising=False)
    facts = local_cpu()
    assert "emulation" in facts and facts["emulation"] is None


def _fp(emulated):
    facts = dict(local_cpu(), emulation=emulated)
    return fingerprint({"cpu_facts": facts}, "litert", "2.3.0", 1)


def test_the_fingerprint_carries_the_emulation_as_a_hard_field():
    real, emu = _fp(None), _fp(EMULATED)
    assert emu["emulation"] == EMULATED and real["emulation"] is None
    [mismatch] = compare(emu, real)  # the same CPU underneath: only the emulation differs, and it refuses reuse
    assert mismatch.field == "emulation" and mismatch.hard
    assert "emulated" in short_key(emu) and "emulated" not in short_key(real)
    key = host_tables.host_key(real)
    assert host_tables.host_key(emu) != key
    legacy = {k: v for k, v in real.items() if k != "emulation"}  # fingerprints recorded before the field
    assert host_tables.host_key(legacy) == key and compare(legacy, real) == []


def test_a_lut_profiled_on_an_emulated_host_is_marked_in_its_provenance(tmp_path):
    profile = load_device("cpu-tflite").with_threads(1)
    space = SearchSpace(width=4, scale=4, hr_size=(32, 32))
    emu = _fp(EMULATED)
    lut = _open_lut(profile, space, tmp_path / "lut.yaml", {"runtime_version": "2.3.0"}, emu, QUICK, False)
    assert lut.provenance["emulated"] == EMULATED and lut.emulation == EMULATED
    real = _open_lut(profile, space, tmp_path / "real.yaml", {"runtime_version": "2.3.0"}, _fp(None), QUICK, False)
    assert "emulated" not in real.provenance and real.emulation is None


@pytest.fixture
def emulated_lut(tmp_path) -> Path:
    """The committed 64x64 ×4 CPU table, as if it had been profiled under qemu-user."""
    lut = LUT.load(COMMITTED)
    lut.provenance["emulated"] = EMULATED
    lut.provenance["fingerprint"] = dict(lut.provenance["fingerprint"], emulation=EMULATED, machine="aarch64")
    return lut.save(tmp_path / COMMITTED.name)


def test_search_refuses_a_budget_against_an_emulated_table_unless_allowed(emulated_lut):
    with pytest.raises(ConfigError, match=rf"measured under emulation.*{ALLOW_EMULATED_OPTION}"):
        build_constraints(COMMITTED_SPACE, ["50ms"], ["cpu"], luts={"cpu": emulated_lut})
    [allowed] = build_constraints(COMMITTED_SPACE, ["50ms"], ["cpu"], luts={"cpu": emulated_lut}, allow_emulated=True)
    assert allowed.lut is not None and allowed.lut.emulation == EMULATED
    [real] = build_constraints(COMMITTED_SPACE, ["50ms"], ["cpu"], luts={"cpu": COMMITTED})  # unchanged for real ones
    assert real.lut is not None and real.lut.emulation is None


def test_an_emulated_fingerprint_alone_is_enough_to_refuse(emulated_lut):
    """A table whose `emulated` provenance line was removed by hand is still refused: the fingerprint says it too."""
    lut = LUT.load(emulated_lut)
    del lut.provenance["emulated"]
    lut.save()
    with pytest.raises(ConfigError, match=ALLOW_EMULATED_OPTION):
        build_constraints(COMMITTED_SPACE, ["50ms"], ["cpu"], luts={"cpu": emulated_lut})


def test_search_takes_the_option_the_refusal_names(emulated_lut, tmp_path, monkeypatch):
    """`search --allow-emulated` reaches build_constraints through api.search; without it the CLI refuses."""
    from typer.testing import CliRunner

    from dcnas_deploy.cli.main import app
    from dcnas_deploy.search import inputs as inputs_mod

    class Stop(Exception):
        pass

    def fake_inputs(run_dir, predictor=None):
        from dcnas_deploy.presets import load_preset

        return inputs_mod.SupernetInputs(lambda g: g[:, 0] * 0.0, None, load_preset("demo"), COMMITTED_SPACE,
                                         tmp_path, {})

    def fake_search(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(inputs_mod, "load_supernet_inputs", fake_inputs)
    monkeypatch.setattr("dcnas_deploy.search.run.search_architecture", fake_search)
    monkeypatch.setattr("dcnas_deploy.cli.search_cmds.host_lut", lambda *a, **k: LUT.load(emulated_lut))
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    base = ["search", "--supernet", str(tmp_path), "--latency", "50ms", "--device", "cpu", "--no-verify",
            "-o", str(tmp_path / "a.yaml")]
    refused = CliRunner().invoke(app, base)
    assert refused.exit_code == 2 and ALLOW_EMULATED_OPTION in refused.output
    allowed = CliRunner().invoke(app, base + [ALLOW_EMULATED_OPTION])
    assert isinstance(allowed.exception, Stop), allowed.output


def test_search_refuses_an_emulated_host_before_profiling_it(tmp_path, monkeypatch):
    """No table yet and an emulated measuring host: refused at once, naming the option; nothing profiled."""
    from dcnas_deploy import api
    from dcnas_deploy.search import inputs as inputs_mod

    def fake_inputs(run_dir, predictor=None):
        from dcnas_deploy.presets import load_preset

        return inputs_mod.SupernetInputs(lambda g: g[:, 0] * 0.0, None, load_preset("demo"), COMMITTED_SPACE,
                                         tmp_path, {})

    profiled = []
    monkeypatch.setattr(inputs_mod, "load_supernet_inputs", fake_inputs)
    monkeypatch.setattr("dcnas_deploy.lut.profiler.current_fingerprint", lambda profile: {"emulation": EMULATED})
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    req = api.SearchRequest(supernet=tmp_path, out=tmp_path / "a.yaml", latency=["50ms"], devices=["cpu"])
    with pytest.raises(ConfigError, match=rf"emulated host.*{ALLOW_EMULATED_OPTION}"):
        api.search(req, lut_for=lambda *a: profiled.append(a) or Path("never"))
    assert profiled == []
