#!/usr/bin/env bash
# System packages `make test` needs on a fresh Debian/Ubuntu machine: a local Slurm cluster
# for the cluster tests (slurmctld slurmd slurm-client munge), git for the DVC tests, and
# python3-venv when this Python cannot create virtual environments. Installs only what is
# missing, non-interactively, as root; without root or apt-get it says what to install and
# carries on (the cluster tests then skip, unless LSAT_REQUIRE_SLURM=1).
set -euo pipefail

packages=(slurmctld slurmd slurm-client munge git)
python3 -c "import ensurepip, venv" 2>/dev/null || packages+=(python3-venv)

missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "system packages present: ${packages[*]}"
    exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "warning: cannot install ${missing[*]} (needs root and apt-get); install them yourself" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "${missing[@]}" >/dev/null
echo "installed: ${missing[*]}"
