# Two commands on a fresh machine: `make demo` and `make test`.
# Each first makes sure of the Debian packages it needs (.ci/install-system-deps --demo / --tests):
# run as root it installs what is missing; otherwise it stops with one line saying what to run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SYSTEM_DEPS = PYTHON='$(PYTHON)' bash .ci/install-system-deps

.PHONY: demo test venv system-deps system-deps-demo system-deps-tests clean

$(BIN)/gjj: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/gjj

venv: $(BIN)/gjj

demo: system-deps-demo venv
	rm -rf demo
	GJJ_HOME=$(CURDIR)/demo $(BIN)/gjj demo

# pytest exit code 5 means no test ran: that is a failure here, never a success. A crashed worker
# ends the run (--max-worker-restart 0) instead of leaving it waiting.
test: system-deps-tests venv
	$(BIN)/python -m pytest -q -n auto --dist loadfile --max-worker-restart 0; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; \
	exit $$status

# The check runs while make expands the recipe: a user who cannot install the missing packages
# gets exactly one line ("Makefile:NN: *** 缺少系统软件包 …；请运行：…  Stop.") and a non-zero exit.
# Otherwise the second line installs them (root with apt-get), or does nothing when all are present.
system-deps-demo system-deps-tests: system-deps-%:
	$(eval deps_missing := $(shell $(SYSTEM_DEPS) --$* --check))$(if $(deps_missing),$(error $(deps_missing)))
	@$(SYSTEM_DEPS) --$*

# Everything the tests need, whoever runs it (as CI's .ci/run does).
system-deps:
	$(SYSTEM_DEPS) --tests

clean:
	rm -rf $(VENV) demo .pytest_cache

# The performance benchmark (issue #7, README "Benchmark"): generates its own data, measures
# everything in one run and writes benchmarks/results.json (about 15 minutes on 2 cores).
.PHONY: bench
bench: venv
	$(BIN)/python -m benchmarks.run --output benchmarks/results.json
