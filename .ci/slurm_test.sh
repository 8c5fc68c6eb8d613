#!/usr/bin/env bash
# A one-node SLURM on localhost, and the workflow run through Snakemake's SLURM
# executor on it (tests/test_slurm.py, marker `slurm`).
#
#   .ci/slurm_test.sh          install what is missing, start the cluster, run the test, stop it
#   .ci/slurm_test.sh start    install what is missing and start the cluster (left running)
#   .ci/slurm_test.sh stop     stop the daemons this script started (by PID) and remove its state
#
# Installs with apt-get (Debian 12: slurmctld, slurmd, slurm-client and munge,
# the server and client packages of slurm-wlm, 3 MB) and with pip
# (`.[slurm]`: snakemake-executor-plugin-slurm). Needs root. Runs without
# systemd: munged runs as user munge, slurmctld and slurmd as root; no
# accounting database (accounting_storage/none), so the executor asks squeue
# for job states and submits without an account; no cgroups
# (proctrack/linuxproc, task/none). The config is /etc/slurm/slurm.conf,
# because the executor's job step strips every SLURM_* variable (SLURM_CONF
# included) before its inner srun. State, logs and PID files live in
# $FWI_SLURM_STATE (default /var/spool/fwi-slurm-ci); only daemons whose PIDs
# this script recorded there are stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=${FWI_SLURM_STATE:-/var/spool/fwi-slurm-ci}
CONF=/etc/slurm/slurm.conf
MARK="# fwi one-node CI cluster (.ci/slurm_test.sh)"
PIDS=$STATE/pids   # "name pid" per line: the daemons this script started

log() { echo "[slurm_test $(date +%H:%M:%S)] $*" >&2; }

install() {
    if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
        || ! command -v munged >/dev/null; then
        log "installing slurmctld slurmd slurm-client munge (apt-get)"
        export DEBIAN_FRONTEND=noninteractive
        # the packages must not start their daemons (this script starts and stops its own)
        local policy=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            policy=/usr/sbin/policy-rc.d
            printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
        fi
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
        [ -n "$policy" ] && rm -f "$policy"
    fi
    if ! python -c "import snakemake_executor_plugin_slurm" 2>/dev/null; then
        log "installing the executor plugin (pip install -e .[slurm])"
        pip install -q -e ".[slurm]"
    fi
}

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }

start() {
    [ "$(id -u)" = 0 ] || { log "needs root (daemons, /etc/slurm)"; exit 1; }
    if [ -s "$PIDS" ]; then
        log "$PIDS lists daemons of an earlier start; stopping them first"
        stop
    fi
    if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        log "$CONF exists and was not written by this script; not touching it"; exit 1
    fi
    if scontrol ping >/dev/null 2>&1; then
        log "a slurmctld already answers on this machine; not starting a second one"; exit 1
    fi
    rm -rf "$STATE"
    mkdir -p "$STATE/ctld" "$STATE/d" /etc/slurm
    : > "$PIDS"

    # munge: its key (the package makes one), run dir, and the daemon as user munge
    if [ ! -s /etc/munge/munge.key ]; then
        mungekey --create --keyfile=/etc/munge/munge.key
    fi
    chown munge:munge /etc/munge /etc/munge/munge.key && chmod 700 /etc/munge && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/lib/munge /var/log/munge
    chown munge:munge /run/munge /var/lib/munge /var/log/munge
    if munge_ok; then
        log "munged already running (not ours: left alone)"
    else
        runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
        for _ in $(seq 50); do munge_ok && break; sleep 0.1; done
        munge_ok || { log "munged did not start"; exit 1; }
        echo "munged $(cat /run/munge/munged.pid)" >> "$PIDS"
    fi

    # memory a bit below what is free now; twice the machine's CPUs (config_overrides):
    # the driver's batch job holds one while it mostly waits, and must not hold
    # back the shot jobs it submits
    local mem cpus
    mem=$(awk '/MemAvailable/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
    cpus=$((2 * $(nproc)))
    cat > "$CONF" <<EOF
$MARK
# Written by .ci/slurm_test.sh start; removed by .ci/slurm_test.sh stop.
ClusterName=fwici
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
# no cgroups in this sandbox, no accounting database
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
# finished jobs stay visible to squeue (the executor's status command) for 5 min,
# well above its status-check intervals
MinJobAge=300
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
    local name
    for name in slurmctld slurmd; do
        if [ $name = slurmd ]; then slurmd -N localhost; else slurmctld; fi
        for _ in $(seq 100); do [ -s "$STATE/$name.pid" ] && break; sleep 0.1; done
        [ -s "$STATE/$name.pid" ] || { log "$name did not start:"; tail -20 "$STATE/$name.log" >&2; exit 1; }
        echo "$name $(cat "$STATE/$name.pid")" >> "$PIDS"
    done
    for _ in $(seq 100); do
        [ "$(sinfo -h -n localhost -o %T 2>/dev/null)" = idle ] && break
        sleep 0.2
    done
    if [ "$(sinfo -h -n localhost -o %T 2>/dev/null)" != idle ]; then
        log "the node did not come up:"; sinfo -N -l >&2 || true; tail -20 "$STATE"/*.log >&2 || true; exit 1
    fi
    log "cluster up: $(sinfo -h -N -o '%N %T cpus=%c mem=%mMB')"
}

# Is $2 still the daemon $1 that this script started (not a reused PID)?
ours() { [ "$(cat "/proc/$2/comm" 2>/dev/null)" = "$1" ]; }

stop() {
    [ -f "$PIDS" ] || { log "nothing to stop ($PIDS absent)"; return 0; }
    # jobs left on our own cluster (a failed test), then our daemons, newest first
    if grep -q "^slurmctld " "$PIDS" && scontrol ping >/dev/null 2>&1; then
        scancel --partition=debug 2>/dev/null || true
        for _ in $(seq 100); do [ -z "$(squeue -h -t PENDING,CONFIGURING,RUNNING,COMPLETING,SUSPENDED 2>/dev/null)" ] && break; sleep 0.2; done
    fi
    tac "$PIDS" | while read -r name pid; do
        if ours "$name" "$pid"; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do ours "$name" "$pid" || break; sleep 0.1; done
            if ours "$name" "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
            log "stopped $name ($pid)"
        fi
    done
    if grep -qF "$MARK" "$CONF" 2>/dev/null; then rm -f "$CONF"; fi
    rm -rf "$STATE"
}

run_test() {
    local t0=$SECONDS
    install
    trap stop EXIT
    start
    FWI_SLURM_TEST=1 python -m pytest -q -m slurm -p no:cacheprovider -s tests/test_slurm.py
    stop
    trap - EXIT
    log "SLURM step passed in $((SECONDS - t0)) s (install, cluster start and stop included)"
}

case "${1:-test}" in
    start) install; trap 'stop' ERR; start ;;
    stop) stop ;;
    test) run_test ;;
    *) echo "usage: $0 [test|start|stop]" >&2; exit 2 ;;
esac
