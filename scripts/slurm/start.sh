#!/usr/bin/env bash
# Start a real single-node Slurm cluster on this machine (as root), for the cluster tests
# and for trying the Slurm profile without a cluster. Idempotent: a running, healthy cluster
# is left alone. Needs the Debian packages slurmctld slurmd slurm-client munge.
#
# Everything lives in $LSAT_SLURM_DIR (default /tmp/lsat-slurm): slurm.conf, gres.conf,
# state, spool, logs and pid files. Clients find it through SLURM_CONF (the script prints
# the export line); job steps inside batch jobs do not see SLURM_CONF, so the default
# /etc/slurm/slurm.conf is made a link to it too -- unless that file is a real
# configuration, which is never touched (then the script stops). Two fake GPUs
# (gres.conf File=/dev/tty[0-1], the trick of Slurm's own test suite) let jobs ask for
# --gpus; no accounting daemon, so job status comes from squeue.
set -euo pipefail

DIR=${LSAT_SLURM_DIR:-/tmp/lsat-slurm}
CONF=$DIR/slurm.conf
export SLURM_CONF=$CONF

die() { echo "scripts/slurm/start.sh: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (starts munged, slurmctld and slurmd)"
for cmd in munged slurmctld slurmd sinfo scontrol; do
    command -v "$cmd" >/dev/null || die "$cmd not found: apt-get install -y slurmctld slurmd slurm-client munge"
done

healthy() {
    timeout 5 scontrol ping 2>/dev/null | grep -q "is UP" &&
        timeout 5 sinfo -h -N -o "%t" 2>/dev/null | grep -qE "^(idle|mix|alloc)"
}

if [[ -f $CONF ]] && healthy; then
    echo "Slurm already running ($CONF)"
    echo "export SLURM_CONF=$CONF"
    exit 0
fi

ETC_CONF=/etc/slurm/slurm.conf
if [[ -e $ETC_CONF && ! -L $ETC_CONF ]]; then
    die "$ETC_CONF is a real Slurm configuration; not starting a test cluster beside it"
fi

mkdir -p "$DIR"/{state,spool,log}
HOST=$(hostname -s)
NODE=$(slurmd -C | head -n1)          # NodeName=... CPUs=... RealMemory=... as detected
[[ $NODE == NodeName=* ]] || die "slurmd -C gave no node line: $NODE"

cat > "$CONF" <<CONF_EOF
# Written by scripts/slurm/start.sh: a one-node test cluster (no accounting).
ClusterName=lsat
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
# squeue must still know a job when Snakemake's slurm executor asks (status via squeue).
MinJobAge=600
SchedulerType=sched/backfill
GresTypes=gpu
$NODE Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF_EOF
echo "NodeName=$HOST Name=gpu File=/dev/tty[0-1]" > "$DIR/gres.conf"
mkdir -p /etc/slurm
ln -sfn "$CONF" "$ETC_CONF"

# munge: a key, and the daemon running as user munge.
if [[ ! -s /etc/munge/munge.key ]]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
fi
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    runuser -u munge -- munged
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n | unmunge >/dev/null || die "munged did not start (see /var/log/munge/munged.log)"
fi

running() { [[ -f $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
if running "$DIR/slurmctld.pid"; then
    scontrol reconfigure || true
else
    slurmctld -f "$CONF"
fi
running "$DIR/slurmd.pid" || slurmd -f "$CONF"

for _ in $(seq 60); do
    state=$(timeout 5 sinfo -h -N -o "%t" 2>/dev/null | head -n1 || true)
    case $state in
        idle | mix | alloc) break ;;
        down* | drain* | drng*) scontrol update NodeName="$HOST" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 0.5
done
healthy || die "cluster did not come up; see $DIR/log/slurmctld.log and $DIR/log/slurmd.log"
echo "Slurm running: $(sinfo -h -N -o '%N %t cpus=%c mem=%m gres=%G')"
echo "export SLURM_CONF=$CONF"
