# bash completion for fastscan(1)
# Generated from fastscan's command line definition (cmd/fastscan/completion.go): do not edit.
# Regenerate with: go generate ./cmd/fastscan

_fastscan() {
	local cur prev cmd
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
	# --flag=value: bash splits the word at the =
	if [[ $cur == = ]]; then
		cur=
	elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then
		prev=${COMP_WORDS[COMP_CWORD - 2]}
	fi
	COMPREPLY=()
	cmd=
	if ((COMP_CWORD > 1)); then
		case ${COMP_WORDS[1]} in
		registry|replay|merge|local) cmd=${COMP_WORDS[1]} ;;
		esac
	fi
	case "$cmd:$prev" in
	:--ports | :-p | :--top-ports | :--rate | :-r | :--max-rate | :--exclude | :--source-ip | :--source-port | :-g | :--router-mac | :--retries | :--wait | :--seed | :--senders | :--shard | :--shards | :--max-parallelism | :--sv-concurrency | :--sv-per-host | :--sv-timeout | :--sv-connect-timeout | :--sv-max-pending | :--syslog | :--metrics | :--metrics-linger | registry:--ports | registry:-p | replay:--ports | replay:-p | replay:--top-ports | replay:--exclude | replay:--source-ip | replay:--source-port | replay:-g | replay:--seed | replay:--senders | replay:--shard | replay:--shards | replay:--max-parallelism | replay:--syslog | local:--port | local:-p | local:--pid | local:--process)
		return
		;;
	:--input-file | :-iL | :--excludefile | :--output | :-o | :--resume-file | :--resume | :-oJ | :-oC | :-oL | :-oX | :-oG | :-oN | :-oA | :--pcap | :--status-json | :--registry | registry:--registry | replay:--input-file | replay:-iL | replay:--excludefile | replay:--output | replay:-o | replay:--resume-file | replay:--resume | replay:-oJ | replay:-oC | replay:-oL | replay:-oX | replay:-oG | replay:-oN | replay:-oA | replay:--registry | merge:--output | merge:-o | merge:-oJ | merge:-oC | merge:-oL | merge:-oX | merge:-oG | merge:--registry | local:--registry)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	:--interface | :-i)
		COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur"))
		return
		;;
	:--format | replay:--format | merge:--format)
		COMPREPLY=($(compgen -W 'text jsonl ecs csv list xml grepable' -- "$cur"))
		return
		;;
	:--syslog-format | replay:--syslog-format)
		COMPREPLY=($(compgen -W 'jsonl ecs' -- "$cur"))
		return
		;;
	:--show | replay:--show)
		COMPREPLY=($(compgen -W 'open closed filtered open|filtered all' -- "$cur"))
		return
		;;
	registry:--proto)
		COMPREPLY=($(compgen -W 'tcp udp sctp' -- "$cur"))
		return
		;;
	registry:--class)
		COMPREPLY=($(compgen -W 'system user dynamic' -- "$cur"))
		return
		;;
	local:--proto)
		COMPREPLY=($(compgen -W 'tcp udp' -- "$cur"))
		return
		;;
	local:--format)
		COMPREPLY=($(compgen -W 'text jsonl csv' -- "$cur"))
		return
		;;
	esac
	if [[ $cur == -* ]]; then
		case $cmd in
		'') COMPREPLY=($(compgen -W '--ports -p --udp -sU --top-ports --rate -r --max-rate --adaptive --no-loss-estimate --input-file -iL --exclude --excludefile --no-default-excludes --interface -i --source-ip -4 -6 --source-port -g --router-mac --retries --wait --seed --output -o --format --senders --shard --shards -n --keep-privileges --resume-file --resume -oJ -oC -oL -oX -oG --verbose -v --debug -d --version -V -sS -Pn --open -oN -oA -sT --max-parallelism --no-fallback -sV --banners --sv-concurrency --sv-per-host --sv-timeout --sv-connect-timeout --sv-max-pending --syslog --syslog-format --pcap --show --sort --quiet -q --dry-run --status-json --metrics --metrics-linger --registry --help -h' -- "$cur")) ;;
		registry) COMPREPLY=($(compgen -W '--ports -p --proto --class --json --registry --help -h' -- "$cur")) ;;
		replay) COMPREPLY=($(compgen -W '--ports -p --udp -sU --top-ports --adaptive --no-loss-estimate --input-file -iL --exclude --excludefile --no-default-excludes --source-ip -4 -6 --source-port -g --seed --output -o --format --senders --shard --shards -n --resume-file --resume -oJ -oC -oL -oX -oG --verbose -v --debug -d --version -V -sS -Pn --open -oN -oA -sT --max-parallelism --no-fallback --syslog --syslog-format --show --quiet -q --registry --no-validate --help -h' -- "$cur")) ;;
		merge) COMPREPLY=($(compgen -W '--output -o --format -oJ -oC -oL -oX -oG --registry --quiet -q --help -h' -- "$cur")) ;;
		local) COMPREPLY=($(compgen -W '--port -p --listening -l --proto --pid --process --format --registry --help -h' -- "$cur")) ;;
		esac
		return
	fi
	if ((COMP_CWORD == 1)); then
		COMPREPLY=($(compgen -W 'registry replay merge local' -- "$cur"))
		return
	fi
	case $cmd in
	replay | merge)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		;;
	esac
}

complete -F _fastscan fastscan
