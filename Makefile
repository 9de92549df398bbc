# The two commands the README promises: `make demo` and `make test`. Both work on a fresh
# Debian machine as root (or with sudo): they install what they need, Debian packages included.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Real peers for the lab and the tests (see ../shared/LAB-NOTES.md); masscan and zmap send raw
# frames and run only inside the sealed namespaces a test makes (tests/engine/netns.py).
APT_PACKAGES := orthanc orthanc-dicomweb orthanc-webviewer orthanc-wsi dcmtk nmap samba smbclient rsync iproute2 nftables chromium \
  nginx-light libnginx-mod-http-dav-ext masscan zmap
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lock system-deps venv lint typecheck unit clean

demo: system-deps $(VENV)/.installed
	@echo "Debian packages of the lab:"; dpkg-query -W $(APT_PACKAGES) | sed 's/^/  /'
	$(BIN)/pacsaudit lab demo --output out/demo/findings.jsonl

test: system-deps $(VENV)/.installed
	$(BIN)/python tools/lock.py --check
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/pytest

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  [ "$$(dpkg-query -W -f='$${Status}' $$p 2>/dev/null)" = "install ok installed" ] || \
	    missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

venv: $(VENV)/.installed

# Every package comes from requirements.lock, exact versions, hashes required (pyproject.toml
# keeps ranges for people who install pacsaudit elsewhere). uv installs it: pinned and hashed
# itself in requirements/uv.txt, installed by the venv's own pip. The venv is made anew whenever
# the lock changes, so nothing of an older lock survives in it. Bytecode is compiled at install
# (uv does not by default, and with PYTHONDONTWRITEBYTECODE set every command would compile
# pydicom's dictionaries again: 0.3 s of each start-up).
$(VENV)/.installed: requirements.lock requirements/uv.txt pyproject.toml
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --require-hashes --no-deps -r requirements/uv.txt
	$(BIN)/uv pip install -q --python $(BIN)/python --require-hashes --no-deps --compile-bytecode \
	  -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps --no-build-isolation -e .
	$(BIN)/python -m compileall -q src
	touch $@

# Resolve again after changing dependencies in pyproject.toml or requirements/*.in, and commit
# the result; `make test` fails while the lock is stale. Needs only the package registry.
lock:
	@[ -x .venv-lock/bin/uv ] || { $(PYTHON) -m venv .venv-lock && \
	  .venv-lock/bin/pip install -q --require-hashes --no-deps -r requirements/uv.txt; }
	$(PYTHON) tools/lock.py --uv .venv-lock/bin/uv

clean:
	rm -rf $(VENV) .venv-lock out .mypy_cache .ruff_cache .pytest_cache
