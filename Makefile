# Two commands for a new user: `make demo` and `make test`. Both build .venv from nothing when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# scripts/install_torch.sh installs this version as the CPU build where there is no NVIDIA GPU (PyTorch's
# CPU wheel index) and the default CUDA build where there is one.
TORCH_SPEC ?= torch==2.13.0
DEMO_DIR ?= demo-out

.PHONY: demo test lint setup clean

$(BIN)/.installed: pyproject.toml setup.py pixelis_data/readers/_fastparse.c
	@echo "setup: virtual environment $(VENV)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --progress-bar off --upgrade pip
	bash scripts/install_torch.sh $(BIN)/python "$(TORCH_SPEC)"
	@echo "setup: installing pixelis (editable) with the train, dev and report extras"
	$(BIN)/python -m pip install --progress-bar off -e ".[train,dev,report]"
	@echo "setup: done"
	touch $@

setup: $(BIN)/.installed

test: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: setup
	bash scripts/demo.sh $(DEMO_DIR)

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache
