#!/usr/bin/env bash
# Installs the system tools fastscan's tests need with apt-get, only when one of
# them is missing: the lab's ip (iproute2) and nft (nftables; also the kernel SYN
# proxy in front of the lab's SYN proxy host, lab/synproxy.go); the consumers the
# nmap XML output is checked with: xmllint (libxml2-utils), xsltproc, and nmap's
# DTD and stylesheet (nmap-common); tcpdump, which reads the pcap output back;
# rsyslog, the collector of the SIEM pipeline test; setpriv (util-linux); nmap, the
# peer of the comparison test (fastlab compare, and make testdata's recordings of
# another scanner); Slurm (slurmctld, slurmd, the sbatch client) and munge, the
# single-node cluster the sharded scan test runs a job array on (scripts/slurm-up.sh);
# prometheus, the server that scrapes --metrics in the metrics lab test; zsh, whose
# completion script is checked (zsh -n); the real servers the service identification
# lab tests run in a lab namespace (lab/realservers.go, each with its own config, never
# the system's service): openssh-server, nginx-light, redis-server and opensmtpd (SMTP).
# Without root it only reports what is missing. With --compare it
# also installs the other scanners make compare runs fastscan against: masscan and
# zmap. (--record is accepted as before; nmap is now installed anyway.) While apt-get installs, /usr/sbin/policy-rc.d exits 101 so that no
# package starts a system-wide service (an existing policy-rc.d is left as it is).
set -euo pipefail

# command -> Debian package
declare -A packages=(
	[ip]=iproute2
	[nft]=nftables
	[xmllint]=libxml2-utils
	[xsltproc]=xsltproc
	[setpriv]=util-linux
	[tcpdump]=tcpdump
	[rsyslogd]=rsyslog
	[nmap]=nmap
	[munged]=munge
	[slurmctld]=slurmctld
	[slurmd]=slurmd
	[sbatch]=slurm-client
	[prometheus]=prometheus
	[zsh]=zsh
	[sshd]=openssh-server
	[nginx]=nginx-light
	[redis-server]=redis-server
	[smtpd]=opensmtpd
)
case "${1:-}" in
--record)
	packages[nmap]=nmap
	;;
--compare)
	packages[nmap]=nmap
	packages[masscan]=masscan
	packages[zmap]=zmap
	;;
esac

# file -> Debian package
declare -A files=(
	[/usr/share/nmap/nmap.dtd]=nmap-common
	[/usr/share/nmap/nmap.xsl]=nmap-common
)

missing=()
for cmd in "${!packages[@]}"; do
	if ! command -v "$cmd" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$cmd" ] && [ ! -x "/sbin/$cmd" ]; then
		missing+=("${packages[$cmd]}")
	fi
done

for f in "${!files[@]}"; do
	if [ ! -e "$f" ] && [[ ! " ${missing[*]} " == *" ${files[$f]} "* ]]; then
		missing+=("${files[$f]}")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all tools present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing ${missing[*]}; not root, so not installing (the lab tests need root anyway)" >&2
	exit 0
fi

echo "install-deps: installing ${missing[*]}"
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# written by fastscan scripts/install-deps.sh while installing\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
