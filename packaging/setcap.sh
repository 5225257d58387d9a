#!/bin/sh
# Lets a group run an installed proctrail without root: creates the group when missing, makes
# the binary executable by root and that group only (mode 0750), and gives it the capabilities
# it needs. Its members then see every user's processes (see PRIVILEGES in proctrail(8)); no one
# else can run it. Used by `cmake --install` with -DPROCTRAIL_SETCAP=ON and by the Debian
# package's postinst.
#
#   setcap.sh BINARY GROUP
set -eu
bin=$1
group=$2
[ "$(id -u)" = 0 ] || { echo "setcap.sh: run as root" >&2; exit 1; }
if ! getent group "$group" >/dev/null; then
  groupadd --system "$group"
  echo "setcap.sh: created group $group: add the users who may monitor the machine to it"
fi
chgrp "$group" "$bin"
chmod 0750 "$bin"
setcap cap_bpf,cap_perfmon,cap_net_admin,cap_sys_ptrace,cap_sys_nice+ep "$bin"
echo "setcap.sh: $bin: root and group $group may run it, with capabilities $(getcap "$bin" | sed 's/^[^ ]* //')"
