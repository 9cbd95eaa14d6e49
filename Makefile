# The commands in the README: `make demo`, `make test` and `make bench`. Each sets itself up from
# nothing but Python 3.11+ and pip: a virtual environment in .venv with the locked dependency train.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed

.PHONY: demo dev test lint typecheck bench soak lock lock-bench clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m attent_assets.demo

# `dg dev` on this project (no simulator, no first backfill): against the API your environment names.
dev: $(STAMP)
	$(DG) dev

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# `dg` warns when the project's .venv is not the activated one; it is, for these commands.
DG := VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/dg

test: lint
	$(DG) check defs
	$(BIN)/pytest -n 2 -m "not paced"
	$(BIN)/pytest -p no:xdist -m paced

# The long randomized crash test (attent_assets_tests/test_kill.py, not part of `make test`):
# SOAK_ROUNDS rounds of world changes and syncs SIGKILLed at random points, each round ending equal
# to the truth; about a second a round on two workers. `make soak SOAK_ROUNDS=2000` for more.
SOAK_ROUNDS ?= 300
soak: $(STAMP)
	ATTENT_SOAK_ROUNDS=$(SOAK_ROUNDS) $(BIN)/pytest -n 2 -rP attent_assets_tests/test_kill.py -k soak

# The bench extra's packages (when `make bench` installed them here) stay out of requirements.lock.
lock: $(STAMP)
	head -n 2 requirements.lock > requirements.lock.new
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^attent' \
		| grep -v -x -F -f requirements-bench.lock >> requirements.lock.new
	mv requirements.lock.new requirements.lock

# The benchmark (docs/benchmarks.md; see bench/__main__.py): about an hour with its long-life
# section (`python -m bench --sections core` alone takes a few minutes), not part of `make test`. It needs the `bench` extra (dlt, for the comparison), pinned in requirements-bench.lock.
$(BENCH_STAMP): $(STAMP) requirements-bench.lock
	$(BIN)/python -m pip install --quiet -r requirements-bench.lock
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench --output docs/benchmarks.md

lock-bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[bench]'
	head -n 3 requirements-bench.lock > requirements-bench.lock.new
	$(BIN)/python -m pip freeze --all --exclude-editable | grep -v -i -E '^(attent|pip==)' \
		| grep -v -x -F -f requirements.lock >> requirements-bench.lock.new
	mv requirements-bench.lock.new requirements-bench.lock
	touch $(BENCH_STAMP)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
