# Shared by the benchmark scripts: sourced, not run.

# bench_setup SCRIPT WORK: as root, install the peers, make the qmaild
# account, and build every command (qmaild, sendmail, ...) into WORK/bin
# (readable by every user): the checkout's code, or the code at git
# revision $REV when it is set.
bench_setup() {
	[ "$(id -u)" = 0 ] || { echo "$1: run as root (it installs and starts Postfix, and makes users)" >&2; exit 1; }
	scripts/install-test-deps
	PATH=$PATH:/usr/sbin
	id qmaild >/dev/null 2>&1 || useradd -r -s /usr/sbin/nologin qmaild
	rm -rf "$2"
	mkdir -p "$2/bin" "$2/root/control"
	chmod 755 "$2" "$2/bin"
	if [ -n "${REV:-}" ]; then
		src=$(mktemp -d)
		git worktree add -q --detach "$src" "$REV"
		(cd "$src" && go build -o "$2/bin/" ./cmd/...)
		git worktree remove --force "$src"
	else
		go build -o "$2/bin/" ./cmd/...
	fi
	echo "gqmail built from ${REV:-the checkout}"
}

# postfix_restart SETTING...: Postfix local-only on 127.0.0.1:25 with the
# given main.cf settings.
postfix_restart() {
	postfix stop >/dev/null 2>&1 || true
	postconf -e inet_interfaces=loopback-only inet_protocols=ipv4 mydestination=localhost \
		myhostname=localhost maillog_file=/var/log/postfix.log "$@"
	newaliases
	postfix start >/dev/null 2>&1
}

# start_gqmail WORK: qmaild on WORK/root, logging to WORK/qmaild.log; both
# MTAs are stopped when the script ends.
start_gqmail() {
	"$1/bin/qmaild" --root "$1/root" 2> "$1/qmaild.log" &
	gq_pid=$!
	trap 'kill $gq_pid 2>/dev/null; postfix stop >/dev/null 2>&1 || true' EXIT
	sleep 1
}

now() { date +%s.%N; }

# count DIR prints how many files DIR holds.
count() { ls -f "$1" 2>/dev/null | grep -vc '^\.' || true; }

# wait_delivered DIR N waits until DIR holds N files, 10 minutes at most.
wait_delivered() {
	deadline=$(( $(date +%s) + 600 ))
	while [ "$(count "$1")" -lt "$2" ]; do
		[ "$(date +%s)" -lt "$deadline" ] || { echo "timed out: $(count "$1") of $2 delivered" >&2; exit 1; }
		sleep 0.05
	done
}

# fresh_maildir USER: an empty ~/Maildir for USER; prints its new/.
fresh_maildir() {
	home=$(getent passwd "$1" | cut -d: -f6)
	rm -rf "$home/Maildir"
	su "$1" -s /bin/sh -c "mkdir -p '$home/Maildir/new' '$home/Maildir/cur' '$home/Maildir/tmp'"
	# The removal of the last run's files must not land in this run's
	# fsyncs: without this, each run after the first was slower.
	sync
	echo "$home/Maildir/new"
}

# rate N START END prints N / (END - START).
rate() { echo "$1 $2 $3" | awk '{ printf "%.1f\n", $1 / ($3 - $2) }'; }

# compare RUNS GQ_CMD PF_CMD: runs both commands (each prints msg/s) RUNS
# times, alternating, and prints each run's rates and the median ratio.
compare() {
	ratios=""
	i=1
	while [ "$i" -le "$1" ]; do
		gq=$($2)
		pf=$($3)
		ratio=$(echo "$gq $pf" | awk '{ printf "%.2f", $1 / $2 }')
		echo "run $i: gqmail $gq msg/s, postfix $pf msg/s, ratio $ratio"
		ratios="$ratios $ratio"
		i=$((i + 1))
	done
	echo "median ratio gqmail/postfix over $1 runs: $(echo "$ratios" | tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')"
}
