#!/bin/busybox sh
# /init of the tiny image (PID 1). It brings up the network with DHCP, takes
# its hostname from the NoCloud seed (a cdrom labelled `cidata`), serves a page
# naming that hostname on port 8080, prints READY on the serial console, then
# runs the seed's `runcmd` commands, their output on the console.
# Everything runs from the initramfs; there is no disk.

# The build put a symlink to /bin/busybox at every applet's path.
export PATH=/sbin:/bin:/usr/sbin:/usr/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

log() { echo "tiny: $*"; }
# The line hosts wait for goes to the serial port itself, whatever console= says.
serial() { if [ -c /dev/ttyS0 ]; then echo "$*" >/dev/ttyS0; else echo "$*"; fi; }

# Modules, each after its dependencies (the build wrote the order).
while read -r module; do
  insmod "/lib/modules/$module.ko" 2>/dev/null || log "could not load module $module"
done </lib/modules/load-order

ip link set lo up
if ip link show eth0 >/dev/null 2>&1; then
  ip link set eth0 up
  # -t/-T: QEMU's user-mode DHCP answers at once; -b: keep trying in the background if it does not.
  udhcpc -i eth0 -s /etc/udhcpc.sh -t 5 -T 1 -b -p /run/udhcpc.pid || log 'DHCP failed'
else
  log 'no eth0: no network'
fi

# The seed: block devices appear as their drivers probe, so wait a little for it.
seed=
for _ in 1 2 3 4 5 6 7 8 9 10; do
  seed=$(findfs LABEL=cidata 2>/dev/null) && break
  seed=$(findfs LABEL=CIDATA 2>/dev/null) && break
  sleep 0.3
done
name=
if [ -n "$seed" ] && mount -t iso9660 -o ro "$seed" /seed 2>/dev/null; then
  # meta-data is YAML: `local-hostname: NAME`; a #cloud-config user-data
  # `hostname: NAME` wins, as it does with cloud-init.
  value() { sed -n "s/^$1:[[:space:]]*[\"']\{0,1\}\([^\"' ]*\).*/\1/p" "$2" 2>/dev/null | head -n 1; }
  name=$(value local-hostname /seed/meta-data)
  from_user=$(value hostname /seed/user-data)
  [ -n "$from_user" ] && name=$from_user
  log "seed $seed: hostname '${name:-none}'"
else
  log 'no NoCloud seed (a cdrom labelled cidata): keeping the default hostname'
fi
# A hostname is letters, digits, dots and dashes.
name=$(echo "$name" | tr -cd 'A-Za-z0-9.-' | cut -c1-63)
[ -n "$name" ] || name=tiny
hostname "$name"
echo "$name" >/etc/hostname

cat >/www/index.html <<PAGE
<!doctype html>
<html><head><title>$name</title></head>
<body><h1>Hello from $name</h1><p>hostname: $name</p></body></html>
PAGE
httpd -p 8080 -h /www || log 'httpd did not start'

# Graceful shutdown: the ACPI power button (virsh shutdown) powers off.
# busybox acpid maps the button's input event to /etc/acpi/PWRF/00000080.
if ls /dev/input/event* >/dev/null 2>&1; then
  acpid -c /etc/acpi -l /run/acpid.log || log 'acpid did not start'
fi

# bootcmd, in the form runcmd has below: each in turn, before READY (the virt
# driver's /etc/hosts entries for the services a VM may reach come this way).
if [ -f /seed/user-data ]; then
  sed -n '/^bootcmd:/,/^[^ ]/s/^  - "\(.*\)"$/\1/p' /seed/user-data | sed 's/\\"/"/g; s/\\\\/\\/g' |
    while IFS= read -r cmd; do sh -c "$cmd" 2>&1 | sed 's/^/tiny: bootcmd> /'; done
fi

serial READY
log "ready: http://$name:8080/"

# runcmd, as the virt driver writes it: one `  - "<JSON string>"` line per
# command (quotes and backslashes escaped). Each runs in turn, after READY.
if [ -f /seed/user-data ]; then
  sed -n '/^runcmd:/,/^[^ ]/s/^  - "\(.*\)"$/\1/p' /seed/user-data | sed 's/\\"/"/g; s/\\\\/\\/g' >/run/runcmd
  if [ -s /run/runcmd ]; then
    (
      while IFS= read -r cmd; do
        log "runcmd: $cmd"
        sh -c "$cmd" 2>&1 | sed 's/^/tiny: runcmd> /'
      done </run/runcmd
      log 'runcmd: done'
    ) &
  fi
fi

# PID 1 must not exit; reap orphans meanwhile (wait returns once no child is left).
trap 'sync; poweroff -f' USR2 TERM
while :; do
  wait
  sleep 3600 &
  wait $!
done
