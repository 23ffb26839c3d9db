# shellcheck shell=bash
# Helpers shared by the scripts in scripts/ (sourced, not run).

# Big visible headers, so a CI log is easy to scan.
section() { printf '\n==== %s ====\n' "$*"; }

die() {
	echo "$(basename "$0"): $*" >&2
	exit 1
}

# apt-get install, non-interactive (CI has no stdin); `apt-get update` once per run.
APT_UPDATED=""
apt_install() {
	local sudo=()
	if [[ $EUID -ne 0 ]]; then
		command -v sudo >/dev/null 2>&1 || die "please install: $*"
		sudo=(sudo)
	fi
	echo "installing with apt-get: $*"
	# apt/dpkg are chatty: keep their output, and show it only when they fail.
	local log
	log=$(mktemp)
	if { [[ -n $APT_UPDATED ]] || "${sudo[@]}" apt-get update -qq; } >"$log" 2>&1 &&
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends "$@" >>"$log" 2>&1; then
		APT_UPDATED=1
		rm -f "$log"
	else
		cat "$log" >&2
		rm -f "$log"
		die "apt-get install $* failed"
	fi
}

# Rust toolchain (not from apt: Debian's rustc is older than rust-version in Cargo.toml)
# and a C compiler (the crate ring compiles C code).
need_rust() {
	command -v cargo >/dev/null 2>&1 ||
		die "cargo not found; install Rust with rustup (https://rustup.rs), then retry"
	command -v cc >/dev/null 2>&1 || apt_install gcc libc6-dev
}

# jq, for every JSON the scripts read or write (never sed on JSON).
need_jq() {
	command -v jq >/dev/null 2>&1 || apt_install jq
}
