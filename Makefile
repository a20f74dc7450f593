# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
PYTEST_ARGS ?=
AUDITOR ?= auditor

.PHONY: install run serve test lint docs bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# A local .env with a generated SECRET_KEY and an event-signing key (kept in .uap/, mode 0600,
# never replaced: events it signed need its public half); cookies may travel over plain HTTP
# on 127.0.0.1.
.env: | $(VENV)/.installed
	$(BIN)/python -c "import secrets; print('SECRET_KEY=' + secrets.token_urlsafe(50))" > $@
	printf 'DEBUG=0\nSESSION_COOKIE_SECURE=0\nCSRF_COOKIE_SECURE=0\n' >> $@
	mkdir -p .uap
	test -e .uap/signing_key.pem || $(MANAGE) uap_signing_key --out .uap/signing_key.pem
	echo 'UAP_SIGNING_KEY=$(CURDIR)/.uap/signing_key.pem' >> $@

run: install .env
	$(MANAGE) migrate --noinput -v0
	$(MANAGE) uap_migrate
	$(MANAGE) uap_seed
	$(MANAGE) uap_migrate --status
	$(MANAGE) collectstatic --noinput -v0
	@# The demo auditor: UAP_AUDITOR_PASSWORD sets (and on re-runs resets) its password;
	@# without it a password is generated once, and later runs keep it.
	@if [ -n "$$UAP_AUDITOR_PASSWORD" ]; then \
		printf '%s\n' "$$UAP_AUDITOR_PASSWORD" | \
			$(MANAGE) uap_create_auditor $(AUDITOR) --password-stdin && \
		echo "Log in at http://127.0.0.1:8000/admin/ as '$(AUDITOR)' with UAP_AUDITOR_PASSWORD."; \
	else \
		$(MANAGE) uap_create_auditor $(AUDITOR) && \
		echo "Log in at http://127.0.0.1:8000/admin/ as '$(AUDITOR)' with the password above."; \
	fi
	$(MAKE) --no-print-directory serve

serve:
	@echo "Serving the audit admin on http://127.0.0.1:8000/ (Ctrl-C to stop)"
	$(BIN)/gunicorn uap_project.wsgi --bind 127.0.0.1:8000 --workers 2 --access-logfile -

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# pytest exits 5 when it collects nothing: a broken selection, not a pass.
	$(BIN)/python -m pytest -n auto $(PYTEST_ARGS); code=$$?; \
	if [ $$code -eq 5 ]; then echo "make test: no tests were collected" >&2; exit 1; fi; \
	exit $$code

lint: install
	$(MANAGE) uap_migrate --lint

# The documentation site (Sphinx) into docs/_build/html: warnings are errors, nothing is fetched
# (no intersphinx, furo's own assets), and the reference is read from the code on every build.
docs: install
	$(BIN)/python -m sphinx -W --keep-going -E -q -b html -d docs/_build/doctrees docs docs/_build/html

# Side by side with psql, dbmate, yoyo and sqitch on the PostgreSQL at 127.0.0.1:5432; installs
# the peers itself and writes bench/results/latest.md; then the fleet figure (uap_migrate
# --all-databases against a shell loop) into bench/results/fleet.md; then the SQL files in a
# Django test database against uap_migrate on the same files (printed); then writers' waits
# while each tool applies an ALTER TABLE behind a long read (bench/results/live_traffic.md).
# Not part of `make test`.
BENCH_ARGS ?=
bench: install
	bash bench/install_peers.sh
	$(BIN)/python bench/run.py $(BENCH_ARGS)
	$(BIN)/python bench/fleet.py
	$(BIN)/python bench/test_databases.py
	$(BIN)/python bench/live_traffic.py

clean:
	rm -rf $(VENV) .uap staticfiles .pytest_cache docs/_build
