#!/bin/sh
# qmailctl queue on a queue of MSGS (default 100,000) messages, built
# straight into queue.db by TestBuildBenchQueue (frontends/admin): the
# time of "queue stat" through the running daemon and with it stopped,
# the time and peak memory (qmailctl's and the daemon's) of a full
# "queue list --json | tail -1", how long sendmail waits for the
# daemon to accept a message while that listing runs, and the time of
# "queue hold ALL" and "queue delete ALL".
set -eu
cd "$(dirname "$0")/.."
msgs=${MSGS:-100000}
port=${PORT:-2625}
work=$(mktemp -d /tmp/gqmail-queue-admin.XXXXXX)
gq_pid=
trap '[ -n "$gq_pid" ] && kill $gq_pid 2>/dev/null; rm -rf "$work"' EXIT
chmod 755 "$work"
go build -o "$work/bin/" ./cmd/...
if [ "$(id -u)" = 0 ]; then
	id qmaild >/dev/null 2>&1 || useradd -r -s /usr/sbin/nologin qmaild
fi
root=$work/root
mkdir -p "$root/control"
printf '[smtp]\nlisten = ["127.0.0.1:%s"]\n[dns]\nservers = ["127.0.0.1:9"]\n' "$port" > "$root/qmail.toml"
echo ":127.0.0.1:1" > "$root/control/smtproutes"

start() {
	"$work/bin/qmaild" --root "$root" 2>> "$work/qmaild.log" &
	gq_pid=$!
	while ! grep -q "listening on" "$work/qmaild.log" 2>/dev/null; do sleep 0.1; done
}
stop() { kill $gq_pid; wait $gq_pid 2>/dev/null || true; gq_pid=; : > "$work/qmaild.log"; }

start; stop # makes the root
s=$(date +%s.%N)
GQMAIL_BENCH_QUEUE=$root/queue/queue.db GQMAIL_BENCH_MESSAGES=$msgs go test -count=1 -run '^TestBuildBenchQueue$' ./frontends/admin/ >/dev/null
echo "queue of $msgs messages built in $(echo "$s $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }') s ($(du -m "$root/queue/queue.db" | cut -f1) MB)"

q="$work/bin/qmailctl --root $root queue"
secs() { echo "$1 $2" | awk '{ printf "%.3f\n", $2 - $1 }'; }
timed() { s=$(date +%s.%N); "$@" > "$work/out"; secs "$s" "$(date +%s.%N)"; }

echo "daemon stopped:"
for i in 1 2 3; do echo "  queue stat: $(timed $q stat) s ($(head -1 "$work/out"))"; done
start
echo "daemon running:"
for i in 1 2 3; do echo "  queue stat: $(timed $q stat) s ($(head -1 "$work/out"))"; done
echo "  queue stat --json: $(timed $q stat --json) s"
# The daemon's peak resident memory counts the pages of queue.db it has
# read through bbolt's mmap (file pages, which the kernel can drop);
# RssAnon is its own memory.
hwm() { awk '/VmHWM|RssAnon|RssFile/ { printf "%s %.1f MiB ", $1, $2 / 1024 }' /proc/$gq_pid/status; }
echo "  daemon before the listing: $(hwm)"

# Accepts during the listing: one sendmail at a time, its wall time each,
# and the daemon's own memory (RssAnon) sampled between them.
: > "$work/lat"
: > "$work/anon"
(
	while [ ! -s "$work/listed" ]; do
		awk '/RssAnon/ { print $2 }' /proc/$gq_pid/status >> "$work/anon"
		s=$(date +%s.%N)
		printf 'Subject: during\n\nx\n' | GQMAIL_ROOT=$root "$work/bin/sendmail" -f bench@localhost x@far.example
		secs "$s" "$(date +%s.%N)" >> "$work/lat"
	done
) &
lat_pid=$!
s=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$work/rss" sh -c "$q list --json | tail -1 > '$work/last'"
e=$(date +%s.%N)
echo done > "$work/listed"
wait $lat_pid
echo "  queue list --json | tail -1: $(secs "$s" "$e") s, qmailctl peak RSS $(awk '{ print $1 / 1024 " MiB" }' "$work/rss")"
echo "  last line: $(cut -c1-100 "$work/last")..."
echo "  daemon after the listing: $(hwm)"
echo "  daemon RssAnon during the listing: max $(sort -n "$work/anon" | tail -1 | awk '{ printf "%.1f MiB", $1 / 1024 }')"
echo "  accepts during the listing: $(wc -l < "$work/lat"), sendmail wall time max $(sort -n "$work/lat" | tail -1) s, median $(sort -n "$work/lat" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }') s"
s=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$work/rss" sh -c "$q list | tail -1 > /dev/null"
echo "  queue list (qmail-qread form): $(secs "$s" "$(date +%s.%N)") s, qmailctl peak RSS $(awk '{ print $1 / 1024 " MiB" }' "$work/rss")"
echo "  queue hold ALL: $(timed $q hold ALL) s ($(cat "$work/out"))"
echo "  queue stat --state held: $(timed $q stat --state held) s ($(head -1 "$work/out"))"
echo "  queue delete ALL: $(timed $q delete ALL) s ($(cat "$work/out"))"
