# Two commands on a fresh machine: `make demo` and `make test`.
# System packages (pango, a CJK font, PostgreSQL, poppler) come from `.ci/run` or `make system-deps`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test venv system-deps clean

$(BIN)/gjj: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/gjj

venv: $(BIN)/gjj

demo: venv
	rm -rf demo
	GJJ_HOME=$(CURDIR)/demo $(BIN)/gjj demo

# pytest exit code 5 means no test ran: that is a failure here, never a success.
test: venv
	$(BIN)/python -m pytest -q; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; \
	exit $$status

system-deps:
	bash .ci/install-system-deps

clean:
	rm -rf $(VENV) demo .pytest_cache

# The performance benchmark (issue #7, README "Benchmark"): generates its own data, measures
# everything in one run and writes benchmarks/results.json (about 15 minutes on 2 cores).
.PHONY: bench
bench: venv
	$(BIN)/python -m benchmarks.run --output benchmarks/results.json
