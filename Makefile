# segread: `make demo` and `make test` each create the environment they need, then run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch: the build pip finds for this platform; on the project's x86_64 machines pip takes
# torch 2.14.1 + torchvision 0.29.1 from the local wheel store (Ultralytics needs torchvision).
TORCH ?= torch==2.14.1 torchvision==0.29.1
export YOLO_OFFLINE := 1

.PHONY: demo test bench env env-train clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The edge side: numpy, OpenCV, ONNX Runtime, sqlite-utils, click, pydantic. No torch.
$(VENV)/.edge: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

# The trainer and the tests: Ultralytics and torch on top.
$(VENV)/.train: pyproject.toml $(VENV)/.edge
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e '.[train,test]'
	touch $@

env: $(VENV)/.edge
env-train: $(VENV)/.train

demo: $(VENV)/.edge
	$(BIN)/segread demo

test: $(VENV)/.train
	$(BIN)/python -m pytest -q

bench: $(VENV)/.train
	$(BIN)/python bench/reader_speed.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
