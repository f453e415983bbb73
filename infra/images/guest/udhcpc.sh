#!/bin/sh
# udhcpc's event script in the tiny image: applies the lease it got.
# udhcpc passes: $1 = deconfig|bound|renew|leasefail|nak, and $interface,
# $ip, $mask (prefix length), $router, $dns in the environment.
case "$1" in
  deconfig)
    ip addr flush dev "$interface"
    ip link set "$interface" up
    ;;
  bound | renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    if [ -n "$router" ]; then
      ip route del default 2>/dev/null
      for r in $router; do ip route add default via "$r" dev "$interface" && break; done
    fi
    : >/etc/resolv.conf
    for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
    echo "tiny: $interface has $ip/${mask:-24}${router:+ via $router}"
    ;;
esac
exit 0
