# drc.registry: the two set-up commands are `make demo` and `make test` (fresh Debian, as root).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
COLLECTIONS := $(CURDIR)/build/collections
LINK := $(COLLECTIONS)/ansible_collections/drc/registry
SANITY_ROOT := $(CURDIR)/build/sanity/ansible_collections/drc/registry
DEBIAN_PACKAGES := docker-registry skopeo curl apache2-utils rsync time

export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PYTHONPATH := $(COLLECTIONS)
export ANSIBLE_PYTHON_INTERPRETER := $(BIN)/python
export ANSIBLE_LOCALHOST_WARNING := false
export ANSIBLE_INVENTORY_UNPARSED_WARNING := false

.PHONY: help deps debian-deps venv link demo test unit-and-integration sanity lint changelog-lint \
        docs-lint build bench bench-quick mutants clean

help:
	@echo "make demo   - install what is needed, start a throwaway registry, run the demo playbook"
	@echo "make test   - install what is needed and run every test and check"
	@echo "make bench  - benchmarks against skopeo, python-dxf and curl (bench/results/latest.md)"

debian-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(BIN)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

link:
	@mkdir -p $(dir $(LINK))
	@ln -sfn $(CURDIR) $(LINK)

deps: debian-deps venv link

demo: deps
	$(BIN)/python -m tests.testbed.demo

# pytest last, so that its summary is the closing line of the run.
test: deps sanity lint changelog-lint docs-lint build unit-and-integration

unit-and-integration:
	cd $(CURDIR) && $(BIN)/python -m pytest -p no:cacheprovider --import-mode=importlib \
	  --cov=plugins --cov-report=term:skip-covered tests/unit tests/integration

# ansible-test wants a real copy under ansible_collections/drc/registry, and bootstraps pip in
# its venvs from a script it would download: an offline stand-in is put where it looks first.
sanity: deps
	@pipver=$$(sed -n "s/.*pip='\([0-9.]*\)'.*/\1/p" $(VENV)/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | head -1); \
	mkdir -p ~/.ansible/test/cache; \
	cp tests/tools/get_pip_standin.py ~/.ansible/test/cache/get_pip_$${pipver//./_}.py
	rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_ROOT)
	git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ $(SANITY_ROOT)/
	cd $(SANITY_ROOT) && git init -q && git add -A && \
	  $(BIN)/ansible-test sanity --local --requirements --python 3.11 --color no

lint: deps
	$(BIN)/ansible-lint --offline --profile production

changelog-lint: deps
	$(BIN)/antsibull-changelog lint

docs-lint: deps
	$(BIN)/antsibull-docs lint-collection-docs --plugin-docs .

build: deps
	rm -rf build/dist && mkdir -p build/dist
	$(BIN)/ansible-galaxy collection build --output-path build/dist --force .
	$(BIN)/ansible-galaxy collection install -p build/dist/installed --force build/dist/drc-registry-*.tar.gz >/dev/null
	ANSIBLE_COLLECTIONS_PATH=build/dist/installed $(BIN)/ansible localhost -m ansible.builtin.debug \
	  -a "msg={{ 'alpine:3' | drc.registry.docker_ref }}" | grep -q '"full_name": "docker.io/library/alpine"'
	@echo "built collection installs and works"

# Benchmarks: separate from `make test`, which runs only the quick smoke test of the harness.
bench: deps
	cd $(CURDIR) && $(BIN)/python -m bench.run

bench-quick: deps
	cd $(CURDIR) && $(BIN)/python -m bench.run --quick

# The guard list (tests/mutants/guards.yml): each mutation applied to a scratch copy under
# build/mutants, its tests run there, and every listed test must fail. See docs/testing.md.
mutants: deps
	cd $(CURDIR) && $(BIN)/python -m tests.mutants.run --jobs 2

clean:
	rm -rf build .venv .pytest_cache .coverage
