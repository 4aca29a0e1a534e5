#!/usr/bin/env bash
# An arm64 (aarch64) Debian userland that runs the dcnas-deploy agent under qemu-user on an x86-64 host (issue 28):
# Debian's python3 from the OS archive, numpy and ai-edge-litert (LiteRT with XNNPACK's ARM kernels) from PyPI's
# aarch64 wheels, no torch. No binfmt_misc registration needed: nothing inside the root is executed while building
# it (mmdebstrap --variant=extract; the wheels are fetched and unpacked by the host's pip), and the wrapper made at
# the end starts the root's Python with `qemu-aarch64 -L ROOT`.
#
#   tools/arm64_root.sh [ROOT]        # default: ${DCNAS_ARM64_ROOT:-${XDG_CACHE_HOME:-~/.cache}/dcnas-deploy/arm64-root}
#   ROOT/usr/bin/dcnas-python3 -m dcnas_deploy.agent --runtime litert --port 8765   # with PYTHONPATH=<this checkout>
#
# Idempotent: a finished step is skipped (the root is built in ROOT.partial and moved into place; the wheels are
# installed against a stamp naming them). Needs: root (for apt-get/mmdebstrap's root mode) or mmdebstrap already
# installed with unshare allowed, qemu-user (qemu-aarch64), and a host Python with pip ($PYTHON, default python3).
# Environment: SUITE (bookworm), MIRROR (http://deb.debian.org/debian), PYTHON, AGENT_REQS ("numpy ai-edge-litert"),
# QEMU_CPU for the wrapper's default CPU model (cortex-a72, a Raspberry Pi 4's core: NEON, no dot product; `max`
# gives every feature qemu emulates).
# Timings under emulation mean nothing about ARM hardware: the agent's fingerprint says the host is emulated, LUTs
# profiled through it are marked so, and `search` refuses to hold a budget against them (docs/devices.md).
set -euo pipefail

ROOT=${1:-${DCNAS_ARM64_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/dcnas-deploy/arm64-root}}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PYTHON=${PYTHON:-python3}
AGENT_REQS=${AGENT_REQS:-numpy ai-edge-litert}
CPU_MODEL=${QEMU_CPU:-cortex-a72}
WRAPPER="$ROOT/usr/bin/dcnas-python3"

say() { echo "arm64_root: $*"; }
die() { echo "arm64_root: error: $*" >&2; exit 1; }

QEMU=$(command -v qemu-aarch64 || true)
[ -n "$QEMU" ] || die "qemu-aarch64 not found: install qemu-user (Debian/Ubuntu: apt-get install qemu-user)"
if ! command -v mmdebstrap >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing mmdebstrap"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
    else
        die "mmdebstrap not found: install it (apt-get install mmdebstrap)"
    fi
fi
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "$PYTHON has no pip: give a Python with pip as PYTHON=..."

# 1. the userland: python3 and what the wheels link against, extracted (no maintainer scripts: nothing arm64 runs)
if [ -x "$ROOT/usr/bin/python3" ]; then
    say "userland present: $ROOT"
else
    say "building the arm64 $SUITE userland in $ROOT (mmdebstrap --variant=extract, a few minutes)"
    mkdir -p "$(dirname "$ROOT")"
    rm -rf "$ROOT.partial"
    mmdebstrap --quiet --arch=arm64 --variant=extract \
        --include=python3,python3-minimal,libpython3-stdlib,libstdc++6,libgcc-s1,zlib1g \
        "$SUITE" "$ROOT.partial" "$MIRROR"
    [ -e "$ROOT.partial/lib/ld-linux-aarch64.so.1" ] || die "the extracted root has no /lib/ld-linux-aarch64.so.1"
    rm -rf "$ROOT"
    mv "$ROOT.partial" "$ROOT"
fi

PYEXE=$(cd "$ROOT/usr/bin" && ls python3.[0-9]* 2>/dev/null | grep -E '^python3\.[0-9]+$' | sort -V | tail -1)
[ -n "$PYEXE" ] || die "no python3.X in $ROOT/usr/bin"
PYVER=${PYEXE#python}
SITE="$ROOT/usr/local/lib/python$PYVER/dist-packages"   # on sys.path of Debian's python (site.py)

# 2. the agent's requirements: aarch64 wheels for this Python, fetched and unpacked by the host's pip
PLATFORMS=(--platform manylinux2014_aarch64)
for minor in $(seq 17 36); do PLATFORMS+=(--platform "manylinux_2_${minor}_aarch64"); done   # bookworm: glibc 2.36
STAMP="$SITE/.dcnas-arm64-root"
WANT="python $PYVER; $AGENT_REQS"
if [ -f "$STAMP" ] && [ "$(head -1 "$STAMP")" = "$WANT" ]; then
    say "wheels present: $(tail -n +2 "$STAMP" | tr '\n' ' ')"
else
    say "installing aarch64 wheels for Python $PYVER into $SITE: $AGENT_REQS"
    WHEELS="$ROOT.wheels"
    mkdir -p "$WHEELS"
    # shellcheck disable=SC2086  # AGENT_REQS is a list of requirements
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --only-binary=:all: "${PLATFORMS[@]}" \
        --python-version "$PYVER" --implementation cp --dest "$WHEELS" $AGENT_REQS
    rm -rf "$SITE"
    # shellcheck disable=SC2086
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-index --no-warn-conflicts --find-links "$WHEELS" \
        --only-binary=:all: "${PLATFORMS[@]}" --python-version "$PYVER" --implementation cp \
        --target "$SITE" $AGENT_REQS
    { echo "$WANT"; (cd "$SITE" && ls -d ./*.dist-info | sed 's|^\./||; s|\.dist-info$||'); } > "$STAMP.tmp"
    mv "$STAMP.tmp" "$STAMP"
fi

# 3. an ARM /proc/cpuinfo (a Cortex-A72 per host core, as on a Raspberry Pi 4) for `-L ROOT` to serve: qemu-user 7.2
#    passes the host's x86 one through, and LiteRT then dies with SIGSEGV in XNNPACK's delegate and in its builtin
#    convolution (measured; Add alone runs): the CPU-detection code underneath finds no ARM processor in it. The
#    fingerprint still tells the emulation (/proc/sys/kernel/arch stays the host's), whatever this file says.
mkdir -p "$ROOT/proc"
for cpu in $(seq 0 $(( $(nproc --all) - 1 ))); do
    printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n' "$cpu"
    printf 'CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
done > "$ROOT/proc/cpuinfo.tmp"
mv "$ROOT/proc/cpuinfo.tmp" "$ROOT/proc/cpuinfo"

# 4. the wrapper: the root's Python under qemu-user. `-0` makes the wrapper Python's argv[0], hence sys.executable,
#    so the agent's measuring child (started as sys.executable) goes through qemu again without binfmt_misc.
cat > "$WRAPPER.tmp" <<EOF
#!/bin/sh
# made by tools/arm64_root.sh: Python $PYVER of this arm64 root under qemu-user (timings mean nothing about ARM hardware)
DCNAS_EMULATED="\${DCNAS_EMULATED:-qemu-user aarch64, -cpu \${QEMU_CPU:-$CPU_MODEL} (tools/arm64_root.sh)}"
export DCNAS_EMULATED
exec "$QEMU" -L "$ROOT" -cpu "\${QEMU_CPU:-$CPU_MODEL}" -0 "$WRAPPER" "$ROOT/usr/bin/$PYEXE" "\$@"
EOF
chmod 755 "$WRAPPER.tmp"
mv "$WRAPPER.tmp" "$WRAPPER"
say "ready: $WRAPPER (Python $PYVER; $(tail -n +2 "$STAMP" | tr '\n' ' '))"
say "check: $WRAPPER -c 'import platform, numpy, ai_edge_litert.interpreter; print(platform.machine(), numpy.__version__)'"
