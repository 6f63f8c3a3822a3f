#!/bin/sh
# Local delivery over STARTTLS, gqmail against Postfix, in the same run.
#
# Workload (for both MTAs): bench/tlsload sends 5,000 messages of 4 KiB
# over 20 concurrent sessions, a new connection per message, each with
# STARTTLS (TLS 1.3, a P-256 ECDSA certificate both MTAs serve), to one
# local user; each MTA delivers to that user's ~/Maildir/. Postfix has
# smtpd_tls_security_level = may and otherwise Debian's defaults
# (local-only). The clock runs from the first connection until the last
# message is in Maildir/new. tlsload also prints the mean handshake time
# seen by the client; a run without STARTTLS against gqmail shows what TLS
# costs per message.
#
# Usage (as root, on a machine where port 25 is free):
#   bench/starttls.sh [RUNS]       # default 3; prints each run and the median ratio
set -eu
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${1:-3}
msgs=${MSGS:-5000}
sessions=${SESSIONS:-20}
size=${SIZE:-4096}
gq_port=2627
work=/tmp/gqmail-bench-tls

bench_setup starttls.sh "$work"
go build -o "$work/bin/tlsload" ./bench/tlsload
for u in benchgq benchpf; do
	id "$u" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$u"
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj /CN=localhost \
	-keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
cat "$work/cert.pem" "$work/key.pem" > "$work/root/control/servercert.pem"
chown qmaild "$work/root/control/servercert.pem"
chmod 600 "$work/root/control/servercert.pem"
postfix_restart home_mailbox=Maildir/ relayhost= smtpd_tls_security_level=may \
	smtpd_tls_cert_file="$work/cert.pem" smtpd_tls_key_file="$work/key.pem"

for f in me locals rcpthosts; do printf 'localhost\n' > "$work/root/control/$f"; done
printf '[smtp]\nlisten = ["127.0.0.1:%s"]\n[delivery]\ndefaultdelivery = "./Maildir/"\n' "$gq_port" > "$work/root/qmail.toml"
start_gqmail "$work"

# run_one PORT USER [-plain]: prints messages per second; the handshake
# time goes to stderr.
run_one() {
	new=$(fresh_maildir "$2")
	start=$(now)
	out=$("$work/bin/tlsload" -addr "127.0.0.1:$1" -n "$msgs" -c "$sessions" -size "$size" -to "$2@localhost" ${3:-})
	wait_delivered "$new" "$msgs"
	echo "  port $1 ${3:-starttls}: $out" >&2
	rate "$msgs" "$start" "$(now)"
}

compare "$runs" "run_one $gq_port benchgq" "run_one 25 benchpf"
echo "gqmail without STARTTLS, for the cost of TLS per message:"
echo "  $(run_one "$gq_port" benchgq -plain) msg/s"
