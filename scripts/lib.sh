# shellcheck shell=bash
# Shared helpers for scripts/*; sourced, not run.

# The repository root, whatever directory the script was started from.
repo_root() {
    cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd
}

die() {
    echo "error: $*" >&2
    exit 1
}

step() {
    echo "==> $*" >&2
}

# require TOOL HINT: fail with HINT unless TOOL is on PATH.
require() {
    command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"
}

# require_cargo_subcommand NAME HINT: fail unless `cargo NAME --version` works.
require_cargo_subcommand() {
    cargo "$1" --version >/dev/null 2>&1 || die "cargo $1 not found: $2"
}
