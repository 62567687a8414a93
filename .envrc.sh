cd /work/wt-fixparse
export PATH=$PWD/.venv/bin:$PATH ANSIBLE_COLLECTIONS_PATH=$PWD/build/collections \
       PYTHONPATH=$PWD/build/collections ANSIBLE_PYTHON_INTERPRETER=$PWD/.venv/bin/python \
       ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_INVENTORY_UNPARSED_WARNING=false \
       DRC_SIGNATURE_FIXTURES=/work/shared/fixtures/signatures
