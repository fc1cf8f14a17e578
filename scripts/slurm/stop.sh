#!/usr/bin/env bash
# Stop the test cluster started by scripts/slurm/start.sh (slurmd, slurmctld), by the pid
# files it wrote. munged is left running: other software on the machine may use it.
set -euo pipefail
DIR=${LSAT_SLURM_DIR:-/tmp/lsat-slurm}
for daemon in slurmd slurmctld; do
    pidfile=$DIR/$daemon.pid
    if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        pid=$(cat "$pidfile")
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        echo "stopped $daemon ($pid)"
    fi
done
# Drop the /etc/slurm/slurm.conf link start.sh made (only if it points into $DIR).
if [[ -L /etc/slurm/slurm.conf && $(readlink /etc/slurm/slurm.conf) == "$DIR/"* ]]; then
    rm /etc/slurm/slurm.conf
fi
