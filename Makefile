# Two commands do everything on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install clean bench qemu docs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: a looser pin lets pip pull a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dcnas-deploy demo

lint: $(STAMP)
	$(BIN)/python -m ruff check dcnas_deploy tests bench setup.py
	$(BIN)/python -m mypy dcnas_deploy

# qemu-user lets the tests run int8 files as an AVX2-only CPU (tests/test_export.py); installed from the OS
# packages when missing, on x86_64, as root with apt-get; elsewhere that test skips and says why.
qemu:
	@command -v qemu-x86_64 >/dev/null 2>&1 || [ "$$(uname -m)" != x86_64 ] || \
	if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing qemu-user (emulated-CPU int8 test)"; \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user >/dev/null; } || \
			echo "could not install qemu-user: the emulated int8 test skips"; \
	else echo "qemu-x86_64 missing and cannot apt-get install qemu-user (not root/no apt): the emulated int8 test skips"; fi

test: lint qemu
	$(BIN)/python -m pytest -q

# The quick rows of bench/suite.yaml, one at a time, each recorded in runs/bench/records.jsonl
# (`$(BIN)/python bench/run.py --list` shows them all; `--set long` / `--set all` / NAME... run more).
bench: $(STAMP)
	$(BIN)/python bench/run.py --set quick

# The docs site (docs/, mkdocs.yml) into site/; not part of `make test` (tests/test_docs.py checks links without mkdocs).
docs: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	$(BIN)/mkdocs build --strict -d site

clean:
	rm -rf $(VENV) build *.egg-info site
