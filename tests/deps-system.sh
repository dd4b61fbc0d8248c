#!/usr/bin/env bash
# The Debian packages make test needs (the tests start these programs
# themselves): Chromium for the web UI's end-to-end tests, Slurm and munge
# for the Slurm executor, PostgreSQL for the PostgreSQL store. As root on
# Debian it installs what is missing; otherwise it says what to install.
set -euo pipefail
missing=()
command -v chromium >/dev/null || missing+=(chromium)
[ -d /usr/share/fonts/truetype/dejavu ] || missing+=(fonts-dejavu-core)
command -v slurmctld >/dev/null || missing+=(slurm-wlm)
command -v munged >/dev/null || [ -x /usr/sbin/munged ] || missing+=(munge)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v git >/dev/null || missing+=(git)
command -v curl >/dev/null || missing+=(curl ca-certificates)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	echo "installing the Debian packages the tests need: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	exit 0
fi
echo "make test needs these Debian packages: ${missing[*]}" >&2
echo "install them (sudo apt-get install --no-install-recommends ${missing[*]}), or run make test as root on Debian" >&2
exit 1
