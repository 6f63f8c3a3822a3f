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
runs=${1:-3}
msgs=${MSGS:-5000}
sessions=${SESSIONS:-20}
size=${SIZE:-4096}
gq_port=2627
sink_port=2628
work=/tmp/gqmail-bench-remote

[ "$(id -u)" = 0 ] || { echo "remote-relay.sh: run as root (it installs and starts Postfix)" >&2; exit 1; }
scripts/install-test-deps
PATH=$PATH:/usr/sbin
id qmaild >/dev/null 2>&1 || useradd -r -s /usr/sbin/nologin qmaild

rm -rf "$work"
mkdir -p "$work/bin" "$work/root/control"
chmod 755 "$work" "$work/bin"
go build -o "$work/bin/" ./cmd/qmaild

postfix stop >/dev/null 2>&1 || true
postconf -e inet_interfaces=loopback-only inet_protocols=ipv4 mydestination=localhost \
	myhostname=localhost relayhost="[127.0.0.1]:$sink_port" maillog_file=/var/log/postfix.log \
	default_transport=smtp relay_transport=relay
newaliases
postfix start >/dev/null 2>&1

root=$work/root
printf 'localhost\n' > "$root/control/me"
printf 'localhost\n' > "$root/control/locals"
printf ':127.0.0.1:%s\n' "$sink_port" > "$root/control/smtproutes"
printf '[smtp]\nlisten = ["127.0.0.1:%s"]\n' "$gq_port" > "$root/qmail.toml"
"$work/bin/qmaild" --root "$root" 2> "$work/qmaild.log" &
gq_pid=$!
trap 'kill $gq_pid 2>/dev/null; postfix stop >/dev/null 2>&1 || true' EXIT
sleep 1

now() { date +%s.%N; }

# run_one PORT: prints messages per second.
run_one() {
	smtp-sink -u nobody -M "$msgs" "127.0.0.1:$sink_port" 256 &
	sink=$!
	sleep 0.3
	start=$(now)
	smtp-source -s "$sessions" -m "$msgs" -l "$size" -f bench@localhost -t user@remote.example "127.0.0.1:$1"
	wait "$sink"
	end=$(now)
	echo "$msgs $start $end" | awk '{ printf "%.1f\n", $1 / ($3 - $2) }'
}

ratios=""
i=1
while [ "$i" -le "$runs" ]; do
	gq=$(run_one "$gq_port")
	pf=$(run_one 25)
	ratio=$(echo "$gq $pf" | awk '{ printf "%.2f", $1 / $2 }')
	echo "run $i: gqmail $gq msg/s, postfix $pf msg/s, ratio $ratio"
	ratios="$ratios $ratio"
	i=$((i + 1))
done
median=$(echo "$ratios" | tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "median ratio gqmail/postfix over $runs runs: $median"
