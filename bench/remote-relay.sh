#!/bin/sh
# Remote delivery throughput, gqmail against Postfix, in the same run.
#
# Workload (for both MTAs): smtp-source sends 5,000 messages of 4 KiB, one
# remote recipient each, over 20 sessions (a new connection per message);
# the MTA relays every message to the same smtp-sink with 20 concurrent
# deliveries (gqmail: concurrencyremote 20, its default, and smtproutes to
# the sink; Postfix: relayhost to the sink, its default destination
# concurrency of 20). The clock runs from the first connection until the
# sink has received the last message (smtp-sink -M exits then).
#
# Usage (as root, with port 25 free):  bench/remote-relay.sh [RUNS]
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${1:-3}
msgs=${MSGS:-5000}
sessions=${SESSIONS:-20}
size=${SIZE:-4096}
gq_port=2627
sink_port=2628
work=/tmp/gqmail-bench-remote

bench_setup remote-relay.sh "$work"
# Debian's "Local only" install sets both transports to error.
postfix_restart relayhost="[127.0.0.1]:$sink_port" default_transport=smtp relay_transport=relay

printf 'localhost\n' > "$work/root/control/me"
printf 'localhost\n' > "$work/root/control/locals"
printf ':127.0.0.1:%s\n' "$sink_port" > "$work/root/control/smtproutes"
printf '[smtp]\nlisten = ["127.0.0.1:%s"]\n' "$gq_port" > "$work/root/qmail.toml"
start_gqmail "$work"

# run_one PORT: prints messages per second. Before Postfix's turn its queue is
# emptied and it is reloaded: a message the sink took as its last but Postfix
# saw fail is retried after the sink exits, and the refused connection marks
# the sink's address dead for the next run, which then waits minutes.
run_one() {
	if [ "$1" = 25 ]; then
		postsuper -d ALL >/dev/null 2>&1 || true
		postfix reload >/dev/null 2>&1
	fi
	smtp-sink -u nobody -M "$msgs" "127.0.0.1:$sink_port" 256 &
	sink=$!
	sleep 0.3
	start=$(now)
	smtp-source -s "$sessions" -m "$msgs" -l "$size" -f bench@localhost -t user@remote.example "127.0.0.1:$1"
	wait "$sink"
	rate "$msgs" "$start" "$(now)"
}

compare "$runs" "run_one $gq_port" "run_one 25"
