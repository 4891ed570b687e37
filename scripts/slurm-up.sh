#!/usr/bin/env bash
# Starts a private single-node Slurm cluster for the tests, as root: munged with its
# own key, socket, pid, log and seed files, then slurmctld and slurmd with a
# slurm.conf whose every path (state, spool, pid and log files) lies in DIR and
# whose ports are free ones picked at random. Nothing in /etc, /var or /run is
# written, and no system-wide munge or Slurm is used or disturbed: the packages
# (scripts/install-deps.sh installs them) are only the programs.
#
#   scripts/slurm-up.sh DIR [OWNER]   # DIR: an empty private directory (mktemp -d)
#   export SLURM_CONF=DIR/slurm.conf
#   sbatch --array=0-3 --wait job.sh
#   scripts/slurm-down.sh DIR           # always, also after a failure
#
# With OWNER (a pid: the test process), a watchdog runs slurm-down.sh as soon as
# that process is gone, so that a test killed before its cleanup (go test's
# -timeout) leaves no daemon behind either.
#
# It returns once the node accepts jobs (sinfo says idle), at most about 30 s. If
# any step fails it stops what it started (slurm-down.sh) and exits non-zero with
# the daemons' logs on standard error.
set -euo pipefail
PATH="/usr/sbin:/sbin:$PATH"

dir="${1:?usage: slurm-up.sh DIR [OWNER]}"
dir="$(cd "$dir" && pwd)"
owner="${2:-}"
here="$(cd "$(dirname "$0")" && pwd)"

for tool in munged slurmctld slurmd sbatch sinfo; do
	if ! command -v "$tool" >/dev/null; then
		echo "slurm-up: $tool is missing (scripts/install-deps.sh installs munge and Slurm)" >&2
		exit 1
	fi
done
if [ "$(id -u)" -ne 0 ]; then
	echo "slurm-up: needs root (the daemons run as root, as do the tasks)" >&2
	exit 1
fi

fail() {
	echo "slurm-up: $*" >&2
	for log in "$dir"/log/*.log; do
		[ -e "$log" ] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }
	done
	"$here/slurm-down.sh" "$dir" >&2 || true
	exit 1
}

# free_port prints a TCP port nobody listens on, not among those given.
free_port() {
	local p
	for _ in $(seq 100); do
		p=$((20000 + RANDOM % 40000))
		case " $* " in *" $p "*) continue ;; esac
		if [ -z "$(ss -Htln "sport = :$p")" ]; then
			echo "$p"
			return
		fi
	done
	fail "no free TCP port found"
}

# munged wants its socket's directory (and those above it) searchable by all; the
# key, state and spool directories are root's only.
chmod 711 "$dir"
mkdir -p "$dir/munge" "$dir/run" "$dir/log" "$dir/state" "$dir/spool"
chmod 700 "$dir/munge" "$dir/state" "$dir/spool"
chmod 755 "$dir/run"

# munge: a key of its own, 1024 random bytes, readable by root only.
head -c 1024 /dev/urandom >"$dir/munge/munge.key"
chmod 400 "$dir/munge/munge.key"
munged --key-file="$dir/munge/munge.key" --socket="$dir/run/munge.socket" \
	--pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
	--seed-file="$dir/munge/munged.seed" --num-threads=2 --origin=127.0.0.1 ||
	fail "munged did not start"

# The daemons talk over loopback only; every address is given, so that no name
# is looked up (the node's name is only matched against gethostname).
node="$(hostname -s)"
ctld_port="$(free_port)"
slurmd_port="$(free_port "$ctld_port")"
# Four tasks at once whatever the machine has (config_overrides: the node is
# what slurm.conf says, not drained for having fewer CPUs).
cpus=4
cat >"$dir/slurm.conf" <<EOF
# Written by fastscan scripts/slurm-up.sh: a private single-node cluster.
ClusterName=fastscanlab
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$dir/run/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
PlugStackConfig=$dir/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
SlurmdParameters=config_overrides
# A finished job may be forgotten after 4 s (the default is 300): sbatch --wait
# then polls every 2 s instead of backing off to 8 s and more.
MinJobAge=4
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$node CPUs=$cpus State=UNKNOWN
PartitionName=lab Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
: >"$dir/plugstack.conf"
export SLURM_CONF="$dir/slurm.conf"

slurmctld -f "$SLURM_CONF" -i || fail "slurmctld did not start"
slurmd -f "$SLURM_CONF" || fail "slurmd did not start"

if [ -n "$owner" ]; then
	# The watchdog: its output goes nowhere, so that whoever reads ours does not
	# wait for it.
	(
		while kill -0 "$owner" 2>/dev/null && [ -d "$dir/run" ]; do
			sleep 1
		done
		"$here/slurm-down.sh" "$dir"
	) </dev/null >/dev/null 2>&1 &
	echo $! >"$dir/run/watchdog.pid"
fi

for _ in $(seq 60); do
	if [ "$(sinfo -h -o %T 2>/dev/null)" = "idle" ]; then
		echo "slurm-up: cluster up in $dir (SLURM_CONF=$SLURM_CONF, ports $ctld_port and $slurmd_port)"
		exit 0
	fi
	sleep 0.5
done
fail "the node did not become idle within 30 s: sinfo says '$(sinfo -h -o %T 2>&1)'"
