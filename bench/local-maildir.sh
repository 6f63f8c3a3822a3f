#!/bin/sh
# Local delivery throughput, gqmail against Postfix, in the same run.
#
# Workload (for both MTAs): smtp-source from Debian's postfix package sends
# 5,000 messages of 4 KiB over 20 concurrent sessions, a new connection per
# message, to one local user; each MTA delivers to that user's ~/Maildir/.
# The clock runs from the first connection until the last message is in
# Maildir/new. Both run on this machine with their defaults (gqmail: the
# control files of a fresh root; Postfix: Debian's main.cf, local-only).
#
# Usage (as root, on a machine where port 25 is free):
#   bench/local-maildir.sh [RUNS]       # default 3; prints each run and the median ratio
set -eu
cd "$(dirname "$0")/.."
runs=${1:-3}
msgs=${MSGS:-5000}
sessions=${SESSIONS:-20}
size=${SIZE:-4096}
gq_port=2626
work=/tmp/gqmail-bench

[ "$(id -u)" = 0 ] || { echo "local-maildir.sh: run as root (it installs and starts Postfix, and makes users)" >&2; exit 1; }
scripts/install-test-deps
command -v smtp-source >/dev/null || PATH=$PATH:/usr/sbin

for u in qmaild benchgq benchpf; do
	id "$u" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$u"
done

rm -rf "$work"
mkdir -p "$work/bin"
chmod 755 "$work" "$work/bin"
go build -o "$work/bin/" ./cmd/qmaild

# Postfix: local only, Maildir delivery, listening on 127.0.0.1:25.
postfix stop >/dev/null 2>&1 || true
postconf -e inet_interfaces=loopback-only inet_protocols=ipv4 mydestination=localhost \
	myhostname=localhost home_mailbox=Maildir/ maillog_file=/var/log/postfix.log relayhost=
newaliases
postfix start >/dev/null 2>&1

# gqmail: a root install delivering to ./Maildir/.
root=$work/root
mkdir -p "$root/control"
printf 'localhost\n' > "$root/control/me"
printf 'localhost\n' > "$root/control/locals"
printf 'localhost\n' > "$root/control/rcpthosts"
printf '[smtp]\nlisten = ["127.0.0.1:%s"]\n[delivery]\ndefaultdelivery = "./Maildir/"\n' "$gq_port" > "$root/qmail.toml"
"$work/bin/qmaild" --root "$root" 2> "$work/qmaild.log" &
gq_pid=$!
trap 'kill $gq_pid 2>/dev/null; postfix stop >/dev/null 2>&1 || true' EXIT
sleep 1

now() { date +%s.%N; }

count() { ls -f "$1" 2>/dev/null | grep -vc '^\.' || true; }

# fresh_maildir USER: an empty ~/Maildir for USER.
fresh_maildir() {
	home=$(getent passwd "$1" | cut -d: -f6)
	rm -rf "$home/Maildir"
	su "$1" -s /bin/sh -c "mkdir -p '$home/Maildir/new' '$home/Maildir/cur' '$home/Maildir/tmp'"
	echo "$home/Maildir/new"
}

# run_one PORT USER: prints messages per second.
run_one() {
	new=$(fresh_maildir "$2")
	start=$(now)
	smtp-source -s "$sessions" -m "$msgs" -l "$size" -f bench@localhost -t "$2@localhost" "127.0.0.1:$1"
	deadline=$(( $(date +%s) + 600 ))
	while [ "$(count "$new")" -lt "$msgs" ]; do
		[ "$(date +%s)" -lt "$deadline" ] || { echo "timed out: $(count "$new") of $msgs delivered" >&2; exit 1; }
		sleep 0.05
	done
	end=$(now)
	echo "$msgs $start $end" | awk '{ printf "%.1f\n", $1 / ($3 - $2) }'
}

ratios=""
i=1
while [ "$i" -le "$runs" ]; do
	gq=$(run_one "$gq_port" benchgq)
	pf=$(run_one 25 benchpf)
	ratio=$(echo "$gq $pf" | awk '{ printf "%.2f", $1 / $2 }')
	echo "run $i: gqmail $gq msg/s, postfix $pf msg/s, ratio $ratio"
	ratios="$ratios $ratio"
	i=$((i + 1))
done
median=$(echo "$ratios" | tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "median ratio gqmail/postfix over $runs runs: $median"
