# Two commands on a fresh machine with Python 3.11+: `make synth` and `make test`. Everything else (Node.js 24 LTS
# for jsii, PostgreSQL, the CDK) comes from PyPI into .venv.
PYTHON ?= python3
VENV ?= .venv
CHECKOV_VENV ?= .venv-checkov
CDKTN_VENV ?= .venv-cdktn
DIST_VENV ?= .venv-dist
PY := $(VENV)/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: synth lambda test test-cdktn test-consumer chaos fuzz lint bench rehearse dist clean

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[infra,local,dev]'
	touch $@

# checkov pins old boto3/packaging: it gets a virtualenv of its own.
$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q 'checkov==3.3.30'
	touch $@

## Build the Lambda zip (dist/lambda/careconnect-ws-lambda-<arch>.zip) from this package; the architecture
## is the stack's (CARECONNECT_WS_ARCHITECTURE or cdktf.json context architecture, else arm64)
## unless LAMBDA_ARCH says otherwise. Nothing is rebuilt when nothing it is made of changed.
lambda: $(VENV)/.installed
	$(PY) -m stacks.lambda_artifact $(if $(LAMBDA_ARCH),--arch $(LAMBDA_ARCH))

## Build the Lambda zip and synthesize the complete stack into cdktf.out/stacks/<stack>/cdk.tf.json
## (no AWS account needed). With CARECONNECT_WS_BACKEND_FUNCTION_NAME set, the zip is not needed.
synth: $(VENV)/.installed
	@if [ -z "$$CARECONNECT_WS_BACKEND_FUNCTION_NAME" ]; then $(PY) -m stacks.lambda_artifact; fi
	$(PY) main.py
	@ls cdktf.out/stacks/*/cdk.tf.json

## Run the whole test suite (starts its own PostgreSQL), after the linter; then the infrastructure tests
## again on CDK Terrain (cdktn), the other CDK lineage, in a virtualenv of its own.
test: lint $(CHECKOV_VENV)/.installed
	$(PY) -m pytest
	$(MAKE) test-cdktn

## The construct library and the app on CDK Terrain: the same infra tests and snapshots, and the synth.
$(CDKTN_VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(CDKTN_VENV)
	$(CDKTN_VENV)/bin/python -m pip install -q --upgrade pip
	$(CDKTN_VENV)/bin/python -m pip install -q -c constraints.txt -e '.[infra-cdktn,dev]'
	touch $@

test-cdktn: $(CDKTN_VENV)/.installed $(CHECKOV_VENV)/.installed
	CARECONNECT_WS_CDK=cdktn $(CDKTN_VENV)/bin/python -m pytest tests/infra -p no:cacheprovider

## The wheel, pip-installed with each lineage's extra into a clean virtualenv outside the repository,
## composed into another team's stack (two APIs, an aliased provider, their own function) and synthesized.
test-consumer: $(VENV)/.installed
	$(PY) -m pytest -m consumer tests/consumer -p no:cacheprovider

## Delivery under chaos at full size: over 10,000 events to subscribers dropped at random, resuming through
## the reference client; every subscriber must end with every event of its streams, in order (about a minute).
chaos: $(VENV)/.installed
	CHAOS_EVENTS=10002 $(PY) -m pytest tests/e2e/test_resume.py -k chaos_every -p no:cacheprovider

## Rehearse a deploy offline: terraform init/validate/plan/apply against moto, read every resource back,
## plan again, destroy; both modes and the complete system with SnapStart; the default app deployed and
## destroyed through the real cdktf and CDK Terrain CLIs; then a deliberately broken stack the read-back must catch.
## Needs terraform and the AWS provider (found where terraform looks, CARECONNECT_WS_TF_PROVIDER_MIRROR, or the registry);
## without them it says why and skips.
rehearse: lambda $(CDKTN_VENV)/.installed
	@$(PY) -m rehearsal complete existing snapstart --cli cdktf --cli cdktn; status=$$?; \
	if [ $$status -eq 3 ]; then exit 0; elif [ $$status -ne 0 ]; then exit $$status; fi; \
	$(PY) -m pytest -m rehearsal tests/rehearsal -p no:cacheprovider

## The long fuzz runs (the default suite runs fewer examples), derandomized so CI repeats itself: 20,000 handler
## events must give no 5xx, and 2,000 generated malformed database URLs no piece of a password in any message
## (about 4 minutes).
fuzz: $(VENV)/.installed
	FUZZ_EXAMPLES=20000 REDACTION_EXAMPLES=2000 $(PY) -m pytest tests/runtime/test_fuzz_handler.py \
		tests/runtime/test_redaction.py -p no:cacheprovider -o timeout=1800

## The release: the sdist and the wheel in dist/ (PEP 517 build, isolated), checked with twine (strict). Install a
## pinned release from the wheel file: pip install 'dist/careconnect_ws-<version>-py3-none-any.whl[infra]'.
$(DIST_VENV)/.installed:
	$(PYTHON) -m venv $(DIST_VENV)
	$(DIST_VENV)/bin/python -m pip install -q --upgrade pip
	$(DIST_VENV)/bin/python -m pip install -q 'build>=1.2' 'twine>=5'
	touch $@

dist: $(DIST_VENV)/.installed
	rm -f dist/careconnect_ws-*.whl dist/careconnect_ws-*.tar.gz
	$(DIST_VENV)/bin/python -m build --outdir dist .
	$(DIST_VENV)/bin/python -m twine check --strict dist/careconnect_ws-*.whl dist/careconnect_ws-*.tar.gz

## Ruff (its rules, then its formatting: run `ruff format` to fix), then the type checker: strict on the runtime,
## the default level on the construct library, the app and the rehearsal (zero errors either way).
lint: $(VENV)/.installed
	$(PY) -m ruff check careconnect_ws careconnect_ws_cdk stacks rehearsal tests bench main.py
	$(PY) -m ruff format --check careconnect_ws careconnect_ws_cdk stacks rehearsal tests bench main.py
	$(PY) -m mypy --strict careconnect_ws
	$(PY) -m mypy careconnect_ws_cdk stacks rehearsal main.py

bench: $(VENV)/.installed
	$(PY) -m bench

clean:
	rm -rf cdktf.out .pytest_cache dist
