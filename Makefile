# Two commands on a fresh machine (Python 3.11+, Node.js 20+): `make synth` and `make test`.
PYTHON ?= python3
VENV ?= .venv
CHECKOV_VENV ?= .venv-checkov
PY := $(VENV)/bin/python
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION = 20
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: synth test bench lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[infra,local,dev]'
	touch $@

# checkov pins old boto3/packaging: it gets a virtualenv of its own.
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q 'checkov==3.3.30'
	touch $@

## Synthesize the stack into cdktf.out/stacks/<stack>/cdk.tf.json (no AWS account needed).
synth: $(VENV)/.installed
	$(PY) main.py
	@ls cdktf.out/stacks/*/cdk.tf.json

## Run the whole test suite (starts its own PostgreSQL).
test: $(VENV)/.installed $(CHECKOV_VENV)/.installed
	$(PY) -m pytest

bench: $(VENV)/.installed
	$(PY) -m bench

clean:
	rm -rf cdktf.out .pytest_cache
