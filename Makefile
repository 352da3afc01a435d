# xorj-state: `make run` and `make test` do everything from a clean checkout.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
XORJ := $(VENV)/bin/xorj
STAMP := $(VENV)/.installed

.PHONY: help deps system-deps venv db migrate run stop test pgtap pytest bench bench-load bench-scale lint clean

help:
	@echo "make run     install what is missing, start the project's PostgreSQL, migrate, load sample data, serve the API"
	@echo "make test    install what is missing, start the project's PostgreSQL, run pg_prove and pytest"
	@echo "make pgtap   only the pgTAP suite      make pytest   only the pytest suite"
	@echo "make stop    stop the project's PostgreSQL"
	@echo "make bench   benchmarks, as ratios against baselines measured in the same run"
	@echo "             (BEFORE=<rev>: also the rules of git revision <rev>, side by side)"
	@echo "make bench-scale   per-call latency at 10^4 and 10^6 trades (10^5, 10^7 scores): ratios, sizes (~25-40 min)"
	@echo "make lint    ruff"

# System packages: a PostgreSQL server (14+), pgTAP for it, pg_prove, and PgBouncer (the
# tests run every process behind it too). Installed with apt-get when missing and this
# user is root or has password-less sudo. (`make bench` uses wrk when it is installed,
# `apt-get install wrk`, and a load generator of its own otherwise.)
system-deps:
	@missing=(); \
	bindir=$$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n | tail -n1 || true); \
	if [ -z "$$bindir" ] || [ ! -x "$$bindir/postgres" ]; then \
	  missing+=(postgresql); major=""; \
	else \
	  major=$$(basename "$$(dirname "$$bindir")"); \
	  if [ "$$major" -lt 14 ]; then echo "PostgreSQL $$major is too old (14 or newer needed)" >&2; exit 1; fi; \
	fi; \
	if [ -n "$$major" ] && [ ! -f "/usr/share/postgresql/$$major/extension/pgtap.control" ]; then missing+=("postgresql-$$major-pgtap"); fi; \
	if [ -z "$$major" ]; then missing+=(pgtap); fi; \
	command -v pg_prove >/dev/null || missing+=(libtap-parser-sourcehandler-pgtap-perl); \
	{ command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ]; } || missing+=(pgbouncer); \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv); \
	if [ $${#missing[@]} -eq 0 ]; then exit 0; fi; \
	if [ "$$(id -u)" -eq 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "missing system packages: $${missing[*]}; install them with: sudo apt-get install $${missing[*]}" >&2; exit 1; fi; \
	if ! command -v apt-get >/dev/null; then echo "missing system packages: $${missing[*]} (no apt-get here: install them with your package manager)" >&2; exit 1; fi; \
	echo "installing system packages: $${missing[*]}"; \
	export DEBIAN_FRONTEND=noninteractive; \
	$$sudo apt-get update -qq; \
	$$sudo apt-get install -y -qq --no-install-recommends "$${missing[@]}" >/dev/null; \
	if [ -z "$$major" ]; then $(MAKE) --no-print-directory system-deps; fi

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
	@$(VENV)/bin/python -c 'import app.cli, psycopg, yoyo, litestar, pytest'
	@touch $@

venv: $(STAMP)

deps: system-deps venv

# The project's own PostgreSQL, unless DATABASE_URL (or DATABASE_HOST, ...) names one.
db: deps
	@if [ -z "$${DATABASE_URL:-}$${DATABASE_HOST:-}$${DATABASE_NAME:-}$${DATABASE_PORT:-}$${DATABASE_USER:-}$${DATABASE_PASSWORD:-}" ]; then $(XORJ) dev-db start; \
	else echo "using the database named by the environment; nothing started"; fi

migrate: db
	@$(XORJ) db migrate

# A local signing secret for `make run`, made once per checkout (git-ignored, mode 0600).
# Production sets JWT_SECRET or JWT_PUBLIC_KEY itself; the app has no default secret.
.jwt-secret:
	@umask 077 && $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(48))' > $@

# LOCALNET=1 make run: also the local validator (the real Solana runtime, LiteSVM) on
# 127.0.0.1:8899, state in .localnet/, the sample user's vault funded; it prints the bot's
# command line. `make stop` stops it with the database.
run: migrate .jwt-secret
	@$(XORJ) db seed --sample-data
	@if [ "$${LOCALNET:-0}" = 1 ]; then \
	  mkdir -p .localnet; \
	  vault=$$($(VENV)/bin/python -c 'from app.seed import ACTIVE_VAULT; print(ACTIVE_VAULT)'); \
	  $(XORJ) localnet serve --state-dir .localnet --port 8899 --vault $$vault > .localnet/stdout 2> .localnet/log & echo $$! > .localnet/pid; \
	  echo "local validator on http://127.0.0.1:8899 (state .localnet/, log .localnet/log)"; \
	  echo "the bot on it: $(XORJ) bot run --chain rpc --venue localnet --rpc-url http://127.0.0.1:8899 --keypair .localnet/authority.json --swap maker --maker-keypair .localnet/maker.json"; \
	fi
	@echo "database: $$($(XORJ) db url)   (stop it with: make stop)"
	@export JWT_SECRET="$${JWT_SECRET:-$$(cat .jwt-secret)}"; \
	wallet=7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU; \
	token=$$($(XORJ) token --wallet $$wallet --ttl 86400); \
	echo; echo "API on http://127.0.0.1:8000 (OpenAPI: /schema); a token for the sample wallet $$wallet:"; \
	echo "TOKEN=$$token"; echo; \
	echo "curl -H \"Authorization: Bearer $$token\" http://127.0.0.1:8000/api/bot/status"; \
	echo "curl -X POST -H \"Authorization: Bearer $$token\" http://127.0.0.1:8000/api/bot/enable"; \
	echo "curl -H \"Authorization: Bearer $$token\" \"http://127.0.0.1:8000/api/user/settings?walletAddress=$$wallet\""; \
	echo; exec $(XORJ) serve --host 127.0.0.1 --port 8000

stop:
	@if [ -f .localnet/pid ]; then kill "$$(cat .localnet/pid)" 2>/dev/null || true; rm -f .localnet/pid; fi
	@if [ -x $(XORJ) ]; then $(XORJ) dev-db stop; else echo "not running"; fi

pgtap: db
	@$(VENV)/bin/python -m tests.pgtap_run

pytest: db
	@$(VENV)/bin/python -m pytest -q

test: db
	@$(VENV)/bin/python -m tests.pgtap_run
	@$(VENV)/bin/python -m pytest -q

# Fair benchmarks (tests/bench/bench_db.py; README, "Benchmarks"): pgbench and wrk against a
# database of their own; BENCH_ARGS passes options (e.g. --quick, --skip http); BEFORE=<rev>
# also measures the rules of that git revision in the same rounds (--before <rev>).
bench: db
	@$(VENV)/bin/python -m tests.bench.bench_db $(if $(BEFORE),--before $(BEFORE)) $(BENCH_ARGS)

bench-load: db
	@$(VENV)/bin/python -m tests.test_engine_load --lines 1000000

bench-scale: db
	@$(VENV)/bin/python -m tests.bench.bench_scale

lint: venv
	@$(VENV)/bin/ruff check app tests db/migrations
	@$(VENV)/bin/ruff format --check app tests

clean: stop
	rm -rf $(VENV) .pytest_cache .ruff_cache
