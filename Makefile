# Huddle: `make demo` runs the example team on the embedded model; `make ui` opens the studio;
# `make test` runs the linters and every test; `make docs` builds the docs site into site/.
# Targets install the system packages they need when missing (scripts/system-deps.sh: as root
# through apt-get, otherwise it stops and prints the command), create .venv when it is missing
# and install into it, torch first.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
TASK ?= Write a Python function fizzbuzz(n) that returns Fizz, Buzz, FizzBuzz or the number as a string.
BIN := $(VENV)/bin
STAMP := $(VENV)/.huddle-installed

.PHONY: system-deps install demo ui test lint docs bench bench-memory bench-sandbox bench-parallel bench-best-of-n bench-ui bench-cli bench-tools bench-bus bench-batch bench-replay eval eval-oracle clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

system-deps:
	@bash scripts/system-deps.sh

$(STAMP): $(BIN)/python pyproject.toml | system-deps
	$(BIN)/python -m pip install "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -e ".[dev]"
	touch $(STAMP)

install: system-deps $(STAMP)

demo: system-deps $(STAMP)
	$(BIN)/huddle run examples/teams/dev_team.yaml "$(TASK)"

ui: system-deps $(STAMP)
	$(BIN)/huddle ui --team examples/teams/dev_team.yaml

test: system-deps lint
	$(BIN)/python -m pytest

# Every check that reads the code without running it; `make test` runs it first: ruff (style, imports,
# Google-style docstrings) and mypy (types; packages and options in pyproject.toml's [tool.mypy]).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_overhead.py

bench-memory: $(STAMP)
	$(BIN)/python benchmarks/bench_memory.py

bench-sandbox: $(STAMP)
	$(BIN)/python benchmarks/bench_sandbox.py

eval: $(STAMP)
	$(BIN)/huddle eval examples/teams/solver_team.yaml benchmarks/data/eval_tasks_plain.jsonl --baseline single-call,sample-vote,retry --out eval-out/plain
	$(BIN)/huddle eval examples/teams/solver_team.yaml benchmarks/data/eval_tasks.jsonl --baseline single-call,sample-vote,retry --out eval-out/examples

eval-oracle: $(STAMP)
	$(BIN)/python benchmarks/eval_oracle.py benchmarks/data/eval_tasks_plain.jsonl
	$(BIN)/python benchmarks/eval_oracle.py benchmarks/data/eval_tasks.jsonl

bench-parallel: $(STAMP)
	$(BIN)/python benchmarks/bench_parallel.py

bench-best-of-n: $(STAMP)
	$(BIN)/python benchmarks/bench_best_of_n.py

bench-ui: $(STAMP)
	$(BIN)/python benchmarks/bench_ui.py

bench-cli: $(STAMP)
	$(BIN)/python benchmarks/bench_cli.py

bench-tools: $(STAMP)
	$(BIN)/python benchmarks/bench_tools.py

bench-bus: $(STAMP)
	$(BIN)/python benchmarks/bench_bus.py

bench-batch: $(STAMP)
	$(BIN)/python benchmarks/bench_batch.py

bench-replay: $(STAMP)
	$(BIN)/python benchmarks/bench_replay.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache *.egg-info site
