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
. bench/lib.sh
runs=${1:-3}
msgs=${MSGS:-5000}
sessions=${SESSIONS:-20}
size=${SIZE:-4096}
gq_port=2626
work=/tmp/gqmail-bench

bench_setup local-maildir.sh "$work"
for u in benchgq benchpf; do
	id "$u" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$u"
done
postfix_restart home_mailbox=Maildir/ relayhost=

for f in me locals rcpthosts; do printf 'localhost\n' > "$work/root/control/$f"; done
printf '[smtp]\nlisten = ["127.0.0.1:%s"]\n[delivery]\ndefaultdelivery = "./Maildir/"\n' "$gq_port" > "$work/root/qmail.toml"
start_gqmail "$work"

# run_one PORT USER: prints messages per second.
run_one() {
	new=$(fresh_maildir "$2")
	start=$(now)
	smtp-source -s "$sessions" -m "$msgs" -l "$size" -f bench@localhost -t "$2@localhost" "127.0.0.1:$1"
	wait_delivered "$new" "$msgs"
	rate "$msgs" "$start" "$(now)"
}

compare "$runs" "run_one $gq_port benchgq" "run_one 25 benchpf"
