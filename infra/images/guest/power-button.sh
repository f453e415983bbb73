#!/bin/sh
# Run by busybox acpid on a power button press (virsh shutdown): stop cleanly.
echo 'tiny: power button: powering off'
sync
poweroff -f
