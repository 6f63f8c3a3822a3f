#!/bin/sh
# Memory with large messages: peak resident memory of the daemon, the
# delivery helper and the delivery children while smtp-source sends large
# messages over many sessions at once, to one local user's ~/Maildir/.
#
# Workload: smtp-source (Debian's postfix package) sends MSGS messages of
# SIZE bytes over SESSIONS concurrent sessions (default 50 of 50 MB over
# 50), a new connection per message. qmail.toml raises max_message_bytes
# to 64 MiB so that 50 MB messages are taken. The clock runs until the last
# message is in Maildir/new. Peaks are VmHWM from /proc for the daemon and
# the helper; the delivery children come and go, so their largest VmRSS is
# sampled every 50 ms (a child runs from the helper's binary as
# /proc/self/fd/N, so it is found by its arguments).
#
# Usage (as root):
#   bench/big-messages.sh               # the checkout's code
#   REV=8765b38 bench/big-messages.sh   # the code at a git revision
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
msgs=${MSGS:-50}
sessions=${SESSIONS:-50}
size=${SIZE:-52428800}
port=2627
work=/tmp/gqmail-bench-big

bench_setup big-messages.sh "$work"
id benchgq >/dev/null 2>&1 || useradd --create-home --shell /bin/sh benchgq
home=$(getent passwd benchgq | cut -d: -f6)
rm -rf "$home/Maildir"
su benchgq -s /bin/sh -c "mkdir -p '$home/Maildir/new' '$home/Maildir/cur' '$home/Maildir/tmp'"

for f in me locals rcpthosts; do printf 'localhost\n' > "$work/root/control/$f"; done
printf '[smtp]\nlisten = ["127.0.0.1:%s"]\nmax_message_bytes = 67108864\n[delivery]\ndefaultdelivery = "./Maildir/"\n' "$port" > "$work/root/qmail.toml"
start_gqmail "$work"
daemon=$gq_pid
helper=$(pgrep -f "qmaild helper --root $work/root" | head -n 1)

kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# Sample the delivery children's resident memory until told to stop.
peakfile=$work/child-peak
echo 0 > "$peakfile"
(
	peak=0
	while [ ! -e "$work/stop" ]; do
		for p in $(pgrep -f "deliver-child" || true); do
			r=$(kb "$p" VmRSS)
			[ "${r:-0}" -gt "$peak" ] && peak=$r && echo "$peak" > "$peakfile"
		done
		sleep 0.05
	done
) &
sampler=$!
rm -f "$work/stop"

start=$(now)
smtp-source -s "$sessions" -m "$msgs" -l "$size" -f bench@localhost -t benchgq@localhost "127.0.0.1:$port"
deadline=$(( $(date +%s) + 1800 ))
while [ "$(ls -f "$home/Maildir/new" | grep -vc '^\.')" -lt "$msgs" ]; do
	[ "$(date +%s)" -lt "$deadline" ] || { echo "timed out" >&2; exit 1; }
	sleep 0.2
done
end=$(now)
touch "$work/stop"
wait "$sampler" 2>/dev/null || true

echo "$msgs messages of $size bytes over $sessions sessions, delivered in $(echo "$start $end" | awk '{ printf "%.1f", $2 - $1 }') s"
echo "daemon peak RSS: $(( $(kb "$daemon" VmHWM) / 1024 )) MiB"
echo "helper peak RSS: $(( $(kb "$helper" VmHWM) / 1024 )) MiB"
echo "largest delivery child RSS seen: $(( $(cat "$peakfile") / 1024 )) MiB"
rm -rf "$home/Maildir"
