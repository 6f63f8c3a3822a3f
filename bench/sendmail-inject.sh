#!/bin/sh
# Local injection with sendmail, gqmail against Postfix, in the same run.
#
# Workload (for both MTAs): an ordinary local user runs the MTA's own
# sendmail 2,000 times, one message of 4 KiB each, to one local user whose
# ~/Maildir/ receives it: first one sendmail at a time, then 8 at once.
# The clock runs from the first sendmail until the last message is in
# Maildir/new. gqmail's sendmail talks to the daemon's submission socket;
# Postfix's runs its setgid postdrop into the maildrop queue, which pickup
# takes in.
#
# Usage (as root, on a machine where port 25 is free):
#   bench/sendmail-inject.sh [RUNS]     # default 3; prints each run and the median ratios
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${1:-3}
msgs=${MSGS:-2000}
size=${SIZE:-4096}
gq_port=2626
work=/tmp/gqmail-bench

bench_setup sendmail-inject.sh "$work"
for u in benchgq benchpf benchcaller; do
	id "$u" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$u"
done
postfix_restart home_mailbox=Maildir/ relayhost=

# qmail-inject appends defaultdomain to a host without a dot, so gqmail's
# local domain has one; Postfix's sendmail leaves "localhost" as it is.
printf 'bench.test\n' > "$work/root/control/me"
printf 'localhost\nbench.test\n' > "$work/root/control/locals"
printf 'localhost\nbench.test\n' > "$work/root/control/rcpthosts"
printf '[smtp]\nlisten = ["127.0.0.1:%s"]\n[delivery]\ndefaultdelivery = "./Maildir/"\n' "$gq_port" > "$work/root/qmail.toml"
start_gqmail "$work"

# The message, readable by the caller.
msg="$work/message"
{
	printf 'Subject: sendmail benchmark\n\n'
	head -c "$size" /dev/zero | tr '\0' 'x' | fold -w 76
	echo
} > "$msg"
chmod 644 "$msg"

# run_one PARALLEL SENDMAIL RCPT USER: prints messages per second. The
# caller runs SENDMAIL RCPT < message MSGS times, PARALLEL at once, each
# worker a shell looping over its share.
run_one() {
	new=$(fresh_maildir "$4")
	start=$(now)
	su benchcaller -s /bin/sh -c "GQMAIL_ROOT='$work/root'; export GQMAIL_ROOT
		seq $msgs | xargs -P $1 -n $((msgs / $1 / 10 + 1)) sh -c 'for i; do $2 $3 < $msg || exit 255; done' sh"
	wait_delivered "$new" "$msgs"
	rate "$msgs" "$start" "$(now)"
}

echo "one sendmail at a time:"
compare "$runs" "run_one 1 $work/bin/sendmail benchgq@bench.test benchgq" "run_one 1 /usr/sbin/sendmail benchpf@localhost benchpf"
echo "8 sendmails at once:"
compare "$runs" "run_one 8 $work/bin/sendmail benchgq@bench.test benchgq" "run_one 8 /usr/sbin/sendmail benchpf@localhost benchpf"
