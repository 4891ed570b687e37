#!/usr/bin/env bash
# Stops the private Slurm cluster scripts/slurm-up.sh started in DIR: stops its
# watchdog, cancels its jobs, then stops slurmd, slurmctld and munged through the pid files in DIR (each
# pid checked to be that daemon: a stale file never kills another process), SIGTERM
# first, SIGKILL after 10 s. Safe to run more than once and after a half-finished
# slurm-up.sh. Exits non-zero if a daemon is still running at the end.
#
#   scripts/slurm-down.sh DIR
set -uo pipefail
PATH="/usr/sbin:/sbin:$PATH"

dir="${1:?usage: slurm-down.sh DIR}"
export SLURM_CONF="$dir/slurm.conf"

# pid_of NAME FILE prints the pid in FILE if that process is NAME.
pid_of() {
	local pid
	pid="$(cat "$2" 2>/dev/null)" || return 1
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] || return 1
	echo "$pid"
}

# alive PID: the process exists and is not a zombie waiting for its parent.
alive() {
	local state
	state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

# The watchdog of slurm-up.sh OWNER (a copy of that script's shell: its command
# line names the script and DIR), unless it is the one running this.
if pid="$(cat "$dir/run/watchdog.pid" 2>/dev/null)" && [[ "$pid" =~ ^[0-9]+$ ]] && [ "$pid" != "$PPID" ] &&
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "slurm-up.sh $dir"; then
	kill -TERM "$pid" 2>/dev/null
fi

# Jobs first, so that no task is left behind the daemons.
if pid_of slurmctld "$dir/run/slurmctld.pid" >/dev/null && command -v squeue >/dev/null; then
	jobs="$(timeout 10 squeue -h -o %A 2>/dev/null | sort -u)"
	if [ -n "$jobs" ]; then
		# shellcheck disable=SC2086
		timeout 10 scancel $jobs 2>/dev/null
		for _ in $(seq 40); do
			[ -z "$(timeout 10 squeue -h -o %A 2>/dev/null)" ] && break
			sleep 0.25
		done
	fi
fi

status=0
for daemon in slurmd:"$dir/run/slurmd.pid" slurmctld:"$dir/run/slurmctld.pid" munged:"$dir/run/munged.pid"; do
	name="${daemon%%:*}"
	file="${daemon#*:}"
	pid="$(pid_of "$name" "$file")" || continue
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 40); do
		alive "$pid" || break
		sleep 0.25
	done
	if alive "$pid"; then
		echo "slurm-down: $name ($pid) ignored SIGTERM for 10 s: SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null
		sleep 0.5
	fi
	if alive "$pid"; then
		echo "slurm-down: $name ($pid) is still running" >&2
		status=1
	fi
done
exit $status
