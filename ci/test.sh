#!/usr/bin/env bash
# The project's test command (README.md "Run the tests"; `.ci/run` calls it too): installs
# the Python packages that tests call (the `openai` SDK for serve/tests/openai_sdk.rs, the
# notebook's packages), then runs every test of the workspace. Works from any directory:
# a relative ROUTER_DATA_DIR is taken from the workspace root (cargo runs each crate's
# tests in that crate's folder, where `../shared/data` would point nowhere).
#
#   bash ci/test.sh                       # data in ../shared/data
#   ROUTER_DATA_DIR=/data bash ci/test.sh -p serve
set -euo pipefail
cd "$(dirname "$0")/.."
export ROUTER_DATA_DIR
ROUTER_DATA_DIR=$(realpath -m "${ROUTER_DATA_DIR:-../shared/data}")
PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --quiet -r ci/requirements.txt
cargo test --workspace "$@"
