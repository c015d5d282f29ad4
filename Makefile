# One command for a new machine: `make test` sets everything up and runs the test suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup system-deps test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

setup: $(BIN)/python system-deps
	$(BIN)/pip install -q -e ".[train,edge,pi,monitor,demo,dev]"

# Debian packages the tests use: a real Mosquitto broker (started by the tests themselves on a free port; the
# package also brings mosquitto_passwd), openssl (test certificates), systemd-analyze (the unit file check),
# postgresql (a throwaway server per test session, as the postgres user in a temporary data directory) and
# shellcheck (deploy/*.sh must pass it; ansible-lint comes from PyPI with the dev extra).
APT_INSTALL = SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends

system-deps:
	@command -v mosquitto >/dev/null 2>&1 || /usr/sbin/mosquitto -h >/dev/null 2>&1 || { \
	  echo "installing Debian's mosquitto"; $(APT_INSTALL) mosquitto >/dev/null; }
	@command -v openssl >/dev/null 2>&1 || { echo "installing Debian's openssl"; $(APT_INSTALL) openssl >/dev/null; }
	@command -v systemd-analyze >/dev/null 2>&1 || { \
	  echo "installing Debian's systemd (for systemd-analyze)"; $(APT_INSTALL) systemd >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  echo "installing Debian's postgresql (the monitor's PostgreSQL store tests)"; $(APT_INSTALL) postgresql >/dev/null; }
	@command -v shellcheck >/dev/null 2>&1 || { echo "installing Debian's shellcheck"; $(APT_INSTALL) shellcheck >/dev/null; }

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .pytest_cache
