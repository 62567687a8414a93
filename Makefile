# drc.registry: the two set-up commands are `make demo` and `make test` (fresh Debian, as root).
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Pythons come from pyenv (PYENV_ROOT, or ~/.pyenv): pyenv_python gives X.Y's interpreter.
PYENV_VERSIONS ?= $(or $(PYENV_ROOT),$(HOME)/.pyenv)/versions
pyenv_python = $(or $(lastword $(sort $(wildcard $(PYENV_VERSIONS)/$(1).*/bin/python$(1)))),python$(1))
# The development venv (the whole suite, every check) and the demo's: the newest ansible-core
# on the newest Python it supports.
PYTHON ?= $(call pyenv_python,3.13)
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
COLLECTIONS := $(CURDIR)/build/collections
LINK := $(COLLECTIONS)/ansible_collections/drc/registry
SANITY_ROOT := $(CURDIR)/build/sanity/ansible_collections/drc/registry
# `make demo` installs only the registry, skopeo and requirements-demo.txt (in .venv-demo);
# `make test` installs everything.
DEMO_DEBIAN_PACKAGES := docker-registry skopeo
DEBIAN_PACKAGES := $(DEMO_DEBIAN_PACKAGES) curl apache2-utils rsync time chromium umoci podman
DEMO_VENV := $(CURDIR)/.venv-demo
# Venvs of their own: Galaxy's importer and ansible-builder (their pins clash with the development
# venv; resolved for Python 3.11).
GALAXY_PYTHON ?= $(call pyenv_python,3.11)
GALAXY_VENV := $(CURDIR)/.venv-galaxy
# The older ansible-core releases users run, each pinned exactly in tests/requirements-ansible-X.txt
# and run in its own venv .venv-ansible-X, on a controller Python it supports (SMOKE_PYTHON_X):
# `make smoke-ansible-X`. 2.16 is the oldest that meta/runtime.yml claims.
SMOKE_ANSIBLE := 2.16 2.17 2.18 2.19 2.20
SMOKE_PYTHON_2.16 := 3.11
SMOKE_PYTHON_2.17 := 3.10
SMOKE_PYTHON_2.18 := 3.12
SMOKE_PYTHON_2.19 := 3.11
SMOKE_PYTHON_2.20 := 3.12
# The oldest and newest Python a managed host may have (README): the development venv's controller
# runs the smoke subset's modules on each (ansible_python_interpreter), in a venv .venv-target-X
# holding nothing but requests (tests/requirements-target-X.txt): `make smoke-target-X`.
TARGET_PYTHONS := 3.9 3.13
# Every Python ansible-test's compile and import sanity tests run on (the modules' 3.9 to 3.13),
# found on PATH through links in build/pythons.
SANITY_PYTHONS := 3.9 3.10 3.11 3.12 3.13
PYTHON_LINKS := $(CURDIR)/build/pythons
# The smoke subset: a module per kind of request (tag list, manifest and config, blob, upload), one
# role, the lookup and the filter, against the real registries of the test bed; mostly one Ansible
# run a test. The first test asserts which Python the modules ran on. registry_extract (a layer
# streamed, tar read, digest checked) and registry_sync (the documented two-host playbook) too.
SMOKE_MODULE_TESTS := tests/integration/test_environment.py::test_modules_run_on_the_python_asked_for \
               tests/integration/test_tags_info.py::test_lists_all_tags_like_skopeo \
               tests/integration/test_manifest_info.py::test_ad_hoc_platform_child_with_config_equals_skopeo \
               tests/integration/test_blob_fetch.py::test_dest_directory_names_file_by_digest \
               tests/integration/test_copy.py::test_ad_hoc_copy_between_registries_equals_skopeo \
               tests/integration/test_roles.py::test_pin_images_check_and_diff_mode \
               tests/integration/test_extract_faults.py::test_a_layer_that_does_not_match_its_digest_is_refused_and_dest_unchanged \
               tests/integration/test_sync.py::test_two_hosts_slices_give_the_same_destination_as_one_run
SMOKE_TESTS := $(SMOKE_MODULE_TESTS) \
               tests/integration/test_registry_digest.py::test_digests_equal_skopeo_in_order \
               tests/integration/test_docker_ref.py::test_filter_in_a_playbook

export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PYTHONPATH := $(COLLECTIONS)
export ANSIBLE_PYTHON_INTERPRETER := $(BIN)/python
export ANSIBLE_LOCALHOST_WARNING := false
export ANSIBLE_INVENTORY_UNPARSED_WARNING := false

.PHONY: help deps debian-deps venv link demo test checks unit-and-integration sanity lint changelog-lint \
        docs-lint build bench bench-quick clean galaxy-import ee-context docs docs-browser oldest-ansible \
        mutants check-venvs python-links smoke
# (smoke-ansible-X and smoke-target-X are pattern rules: make skips those for .PHONY targets.)

help:
	@echo "make demo   - install what is needed, start a throwaway registry, run the demo playbook"
	@echo "make test   - install what is needed and run every test and check"
	@echo "make docs   - build the HTML documentation site into build/docs/build/html"
	@echo "make bench  - benchmarks against skopeo, python-dxf and curl (bench/results/latest.md)"

debian-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# Made afresh (a .venv of another Python, or a link to another checkout's, is replaced).
$(BIN)/.installed: requirements-dev.txt
	rm -rf $(VENV) && $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

link:
	@mkdir -p $(dir $(LINK))
	@ln -sfn $(CURDIR) $(LINK)

deps: debian-deps venv link

$(DEMO_VENV)/.installed: requirements-demo.txt
	rm -rf $(DEMO_VENV) && $(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-demo.txt
	touch $@

# (a target-specific value: debian-deps, run for the demo, installs the demo's packages only)
demo: DEBIAN_PACKAGES := $(DEMO_DEBIAN_PACKAGES)
demo: debian-deps $(DEMO_VENV)/.installed link
	$(DEMO_VENV)/bin/python -m tests.testbed.demo

# pytest and the checks run side by side: pytest in one job slot for the whole run, the checks one
# after another in the other (the suite is CPU-bound: two slots keep both cores busy without more
# contention). Each job's output is printed whole when it ends.
SMOKE_RUNS := $(addprefix smoke-ansible-,$(SMOKE_ANSIBLE)) $(addprefix smoke-target-,$(TARGET_PYTHONS))
CHECKS := sanity lint changelog-lint docs-lint build galaxy-import ee-context docs docs-browser $(SMOKE_RUNS)
# pytest workers: most integration tests wait on a registry or an Ansible process, so one more
# worker than cores keeps both cores busy. Each worker starts its own test bed. Tests are handed
# out one at a time, except the files in tests/conftest.py's WHOLE_FILES, which go whole to one
# worker (their module-scoped fixtures are set up once) and first (--dist loadscope, with the
# scheduler of tests/conftest.py).
TEST_WORKERS ?= 3

# The installs go side by side too: the development venv in one slot; in the other the Debian
# packages, then the checks' own venvs one after another (check-venvs: one target, so that pytest
# never waits for a slot behind them), then the checks. The checks' venvs do without pip's cache,
# which the development venv's pip may be writing at the same time.
test:
	$(MAKE) --no-print-directory --output-sync=target -j2 unit-and-integration checks

checks: deps check-venvs
	$(MAKE) $(CHECKS)

SMOKE_VENVS := $(foreach v,$(SMOKE_ANSIBLE),$(CURDIR)/.venv-ansible-$(v)/.installed) \
               $(foreach v,$(TARGET_PYTHONS),$(CURDIR)/.venv-target-$(v)/.installed)
check-venvs:
	$(MAKE) -j1 $(GALAXY_VENV)/.installed $(SMOKE_VENVS)

# Coverage data goes under build/ (the checks running beside pytest copy and scan the tree).
unit-and-integration: deps
	mkdir -p build/coverage
	cd $(CURDIR) && COVERAGE_FILE=$(CURDIR)/build/coverage/data $(BIN)/python -m pytest -p no:cacheprovider --import-mode=importlib \
	  -n $(TEST_WORKERS) --dist loadscope --durations=15 \
	  --cov=plugins --cov-report=term:skip-covered tests/unit tests/integration

# ansible-test wants a real copy under ansible_collections/drc/registry, and bootstraps pip in
# its venvs from a script it would download: an offline stand-in is put where it looks first
# (named after the pip version that ansible-test pins). Every test on the development venv's
# Python, then the compile and import tests on each older Python a module may run on (ansible-test
# finds python3.X on PATH: build/pythons).
sanity: deps python-links
	@pipver=$$(sed -n "s/.*pip='\([0-9.]*\)'.*/\1/p" $(VENV)/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | head -1); \
	mkdir -p ~/.ansible/test/cache; \
	cp tests/tools/get_pip_standin.py ~/.ansible/test/cache/get_pip_$${pipver//./_}.py
	rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_ROOT)
	git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --files-from=- ./ $(SANITY_ROOT)/
	cd $(SANITY_ROOT) && git init -q && git add -A && export PATH=$(PYTHON_LINKS):$$PATH && \
	  dev=$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])') && \
	  $(BIN)/ansible-test sanity --local --requirements --python $$dev --color no && \
	  for v in $(SANITY_PYTHONS); do [ $$v = $$dev ] || \
	    $(BIN)/ansible-test sanity --local --requirements --python $$v --color no --test compile --test import || exit 1; \
	  done

# python3.X on PATH for ansible-test, for every X in SANITY_PYTHONS.
python-links:
	@mkdir -p $(PYTHON_LINKS)
	@$(foreach v,$(SANITY_PYTHONS),p=$(call pyenv_python,$(v)); \
	  [ -x "$$p" ] || p=$$(command -v "$$p") || { echo "no Python $(v) (pyenv install $(v))" >&2; exit 1; }; \
	  ln -sfn "$$p" $(PYTHON_LINKS)/python$(v);)

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

$(GALAXY_VENV)/.installed: tests/requirements-galaxy.txt
	rm -rf $(GALAXY_VENV) && $(GALAXY_PYTHON) -m venv $(GALAXY_VENV)
	$(GALAXY_VENV)/bin/python -m pip install -q --disable-pip-version-check --no-cache-dir -r tests/requirements-galaxy.txt
	touch $@

# An older ansible-core's venv, on the controller Python chosen for it (SMOKE_PYTHON_X).
$(CURDIR)/.venv-ansible-%/.installed: tests/requirements-ansible-%.txt
	rm -rf $(@D) && $(call pyenv_python,$(SMOKE_PYTHON_$*)) -m venv $(@D)
	$(@D)/bin/python -m pip install -q --disable-pip-version-check --no-cache-dir -r $<
	touch $@

# Kept when a smoke run's make built them on the way (not removed as intermediate files).
.PRECIOUS: $(CURDIR)/.venv-ansible-%/.installed $(CURDIR)/.venv-target-%/.installed

# A managed host's Python: requests and nothing else.
$(CURDIR)/.venv-target-%/.installed: tests/requirements-target-%.txt
	rm -rf $(@D) && $(call pyenv_python,$*) -m venv $(@D)
	$(@D)/bin/python -m pip install -q --disable-pip-version-check --no-cache-dir -r $<
	touch $@

# Galaxy's own import checks on the built tarball (tests/galaxy/galaxy-importer.cfg: all on but
# ansible-test). The importer logs findings as WARNING/ERROR lines and still succeeds: any fails.
galaxy-import: build $(GALAXY_VENV)/.installed
	rm -rf build/galaxy-import && mkdir -p build/galaxy-import
	set -o pipefail; cd build/galaxy-import && GALAXY_IMPORTER_CONFIG=$(CURDIR)/tests/galaxy/galaxy-importer.cfg \
	  PATH=$(GALAXY_VENV)/bin:$$PATH $(GALAXY_VENV)/bin/python -m galaxy_importer.main \
	  $(CURDIR)/build/dist/drc-registry-*.tar.gz 2>&1 | tee importer.log
	@! grep -E '^(WARNING|ERROR|CRITICAL)' build/galaxy-import/importer.log
	@grep -q '^Importer processing completed successfully' build/galaxy-import/importer.log
	@echo "galaxy-importer: clean"

# The example execution environment: ansible-builder writes its build context (building it needs
# a container engine). The context must install the collection, and the dependency scan that the
# build runs (the context's own introspect.py) must find requests and bindep.txt in the collection.
ee-context: build $(GALAXY_VENV)/.installed
	rm -rf build/ee && $(GALAXY_VENV)/bin/ansible-builder create \
	  -f docs/execution-environment/execution-environment.yml -c build/ee/context \
	  --output-filename Containerfile
	grep -Eq '^ *- *name: *drc\.registry *$$' build/ee/context/_build/requirements.yml
	grep -q 'ansible-galaxy collection install .*-r requirements.yml' build/ee/context/Containerfile
	$(GALAXY_VENV)/bin/python build/ee/context/_build/scripts/introspect.py introspect \
	  --write-pip build/ee/requirements.txt --write-bindep build/ee/bindep.txt build/dist/installed
	grep -Eq '^requests.*# from collection drc\.registry' build/ee/requirements.txt
	grep -Eq '^ca-certificates.*# from collection drc\.registry' build/ee/bindep.txt
	@echo "execution environment context: installs drc.registry, which brings requests and ca-certificates"

# The documentation site: antsibull-docs scaffolds a Sphinx project and Sphinx builds it, warnings
# as errors. Offline, intersphinx reads a local inventory (tests/tools/docsite_offline.py).
docs: deps
	rm -rf build/docs && mkdir -p build/docs && chmod 755 build/docs
	$(BIN)/antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error \
	  --dest-dir build/docs --project drc.registry --title drc.registry \
	  --copyright "drc.registry contributors" drc.registry
	$(BIN)/python tests/tools/docsite_offline.py build/docs
	cd build/docs && ./build.sh
	@echo "documentation site: build/docs/build/html/index.html"

# The site in a real browser: headless Chromium renders the collection's index page; the test
# checks that it lists every module, lookup, filter and role in the collection's tree.
docs-browser: docs
	cd $(CURDIR) && $(BIN)/python -m pytest -p no:cacheprovider --import-mode=importlib -q tests/docsite

# The older ansible-core releases (SMOKE_ANSIBLE): pytest in each one's venv runs the smoke subset
# against the real registries of a test bed of its own (no smoke test fetches app/big: the bed
# seeds a 4 MiB one); on the oldest claimed (meta/runtime.yml), every unit test too. The newest (the
# development venv) runs the whole suite. The hypothesis property tests of the pure-Python parsers
# (no ansible-core in them) run once, there. Each run prints its wall and CPU time.
smoke-ansible-%: deps $(CURDIR)/.venv-ansible-%/.installed
	$(CURDIR)/.venv-ansible-$*/bin/python -c "from ansible.release import __version__ as v; assert v.startswith('$*.'), v"
	cd $(CURDIR) && PATH=$(CURDIR)/.venv-ansible-$*/bin:$$PATH ANSIBLE_PYTHON_INTERPRETER=$(CURDIR)/.venv-ansible-$*/bin/python \
	  DRC_TESTBED_BIG_MIB=4 $(SMOKE_TIME) $(CURDIR)/.venv-ansible-$*/bin/python -m pytest -p no:cacheprovider \
	  --import-mode=importlib -q $(if $(filter $*,$(firstword $(SMOKE_ANSIBLE))),-k "not properties" tests/unit) $(SMOKE_TESTS)

# The managed host's Python (TARGET_PYTHONS): the development venv's Ansible runs the smoke subset's
# modules with ansible_python_interpreter set to a venv of that Python holding only requests
# (DRC_TEST_TARGET_PYTHON, read by tests/integration/ansible_runner.py).
smoke-target-%: deps $(CURDIR)/.venv-target-%/.installed
	cd $(CURDIR) && DRC_TEST_TARGET_PYTHON=$(CURDIR)/.venv-target-$*/bin/python DRC_TEST_TARGET_PYTHON_VERSION=$* \
	  DRC_TESTBED_BIG_MIB=4 \
	  $(SMOKE_TIME) $(BIN)/python -m pytest -p no:cacheprovider --import-mode=importlib -q $(SMOKE_MODULE_TESTS)

SMOKE_TIME = /usr/bin/time -f "$@: %e s wall, %U s user + %S s system CPU"

smoke: $(SMOKE_RUNS)

oldest-ansible: smoke-ansible-$(firstword $(SMOKE_ANSIBLE))

# Benchmarks: separate from `make test`, which runs only the quick smoke test of the harness.
bench: deps
	cd $(CURDIR) && $(BIN)/python -m bench.run
	cd $(CURDIR) && $(BIN)/python -m bench.mirror_roles
	cd $(CURDIR) && $(BIN)/python -m bench.sync --publish
	cd $(CURDIR) && $(BIN)/python -m bench.referrers
	cd $(CURDIR) && $(BIN)/python -m bench.verify

bench-quick: deps
	cd $(CURDIR) && $(BIN)/python -m bench.run --quick

# The guard list (tests/mutants/guards.yml): each mutation applied to a scratch copy under
# build/mutants, its tests run there, and every listed test must fail. See docs/testing.md.
mutants: deps
	cd $(CURDIR) && $(BIN)/python -m tests.mutants.run --jobs 2

clean:
	rm -rf build .venv .venv-* .pytest_cache .coverage
