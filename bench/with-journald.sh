#!/bin/sh
# Runs a command (proctrail --journal ...) beside a systemd-journald of its own, for
# bench/exec_storm.py: under `unshare -m --propagation private`, with tmpfs on /run/systemd,
# /run/log and /var/log/journal and a journald.conf without rate limit, so the machine's own
# journal is not touched and journald drops nothing of a storm.
#
#   with-journald.sh PIDFILE COUNTFILE COMMAND...
#
# The command's pid goes to PIDFILE (for its CPU time); SIGINT and SIGTERM are passed on to it.
# When it has ended, the number of entries from proctrail the journal holds goes to COUNTFILE.
set -u
pidfile=$1 countfile=$2
shift 2
conf=$(mktemp)
printf '[Journal]\nStorage=volatile\nRateLimitIntervalSec=0\nRuntimeMaxUse=4G\n' > "$conf"
mkdir -p /run/systemd /run/log
mount -t tmpfs tmpfs /run/systemd && mount -t tmpfs tmpfs /run/log || exit 1
if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal || exit 1; fi
mount --bind "$conf" /etc/systemd/journald.conf || exit 1
/lib/systemd/systemd-journald &
j=$!
i=0
while [ ! -S /run/systemd/journal/socket ]; do
  i=$((i + 1))
  [ $i -lt 200 ] || { echo "with-journald: journald did not start" >&2; exit 1; }
  sleep 0.05
done
"$@" &
p=$!
echo $p > "$pidfile"
trap 'kill -INT $p' INT TERM
wait $p
rc=$?
wait $p 2>/dev/null   # again, when a signal ended the first wait
journalctl --sync
journalctl -q -o json SYSLOG_IDENTIFIER=proctrail | wc -l > "$countfile"
kill $j
wait $j
rm -f "$conf"
exit $rc
