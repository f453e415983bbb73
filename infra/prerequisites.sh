#!/usr/bin/env bash
# The one prerequisites step: installs the Debian packages the product needs,
# only those that are missing. `cloud:up` (so the demo and the tests) and
# .ci/run all call it. It prints one line naming what it installs and why.
#
#   postgresql         the request-log database (a private cluster per cloud)
#   python3-aiosmtpd   the cloud's SMTP server
#   fonts-dejavu-core  the PDF service's font for Latin, Greek, Cyrillic and symbols
#   fonts-noto-core    the PDF service's fonts for Latin, Greek, Cyrillic, Arabic, Hebrew,
#                      Devanagari, Thai, Bengali, Tamil, Telugu, Gujarati, Gurmukhi, Kannada,
#                      Malayalam, Sinhala, Khmer, Lao, Myanmar, Georgian, Armenian, Ethiopic
#   fonts-droid-fallback  the PDF service's font for Chinese and Japanese
#   fonts-nanum        the PDF service's font for Korean
#                      (not Noto CJK: 20 MB a face, see workloads/pdf/src/font-list.ts)
#   poppler-utils      pdftotext/pdfinfo, which the tests use to read PDFs back
#   dnsutils           dig, for Consul DNS in the README and the tests
#   build-essential    cc for Nomad's cgo build
#   ca-certificates    TLS to the package registries
#   openssl            makes the cloud's CA and Consul's and Nomad's certificates (infra/cloud/tls.ts)
#   wrk                the HTTP load generator of the benchmarks (npm run bench:*)
#   haproxy            the cloud's ingress: one address per service, run by Nomad (jobs/ingress.ts)
#   qemu-system-x86    boots VM images (npm run build:images -- --verify; the VM driver)
#   qemu-utils         qemu-img: qcow2 disks and copy-on-write overlays of VM images
#   cloud-image-utils  cloud-localds: the NoCloud seed (cidata) a VM is configured from
#   mmdebstrap         the root filesystem of the Debian VM image
#   extlinux           the boot loader (and MBR code) of the Debian VM image
#   libvirt-daemon     libvirtd, run privately per cloud (not libvirt-daemon-system: that one
#                      sets up, and may start, the host's own libvirtd)
#   libvirt-daemon-driver-qemu  libvirtd's QEMU driver (the `virt` driver's VMs)
#   libvirt-clients    virsh, which the `virt` driver and `npm run virt:check` drive libvirt with
#   iproute2           ip: a cluster's bridge, namespaces and links on one machine (cloud:up -- --nodes N)
#   util-linux         nsenter: starts a cluster node's agents inside its namespace
#   nftables           nft: a cluster's host firewall, so a node reaches only the shared services on the host
#
# Usage: infra/prerequisites.sh [--check]   (--check: only report, exit 1 if any is missing)
set -euo pipefail

# package | why (shown when it is installed)
packages() {
  cat <<'EOF'
postgresql|request-log database
python3-aiosmtpd|SMTP server
fonts-dejavu-core|PDF font
fonts-noto-core|PDF fonts for Arabic, Hebrew, Indic, Southeast Asian, Georgian, Armenian, Ethiopic
fonts-droid-fallback|PDF font for Chinese, Japanese
fonts-nanum|PDF font for Korean
poppler-utils|pdftotext for the tests
dnsutils|dig for Consul DNS
build-essential|cc for Nomad's cgo build
ca-certificates|TLS to package registries
openssl|the cloud's CA and TLS certificates
wrk|load generator for the benchmarks
haproxy|the ingress in front of the services
qemu-system-x86|QEMU to boot VM images
qemu-utils|qemu-img for VM disks
cloud-image-utils|cloud-localds for VM seeds
mmdebstrap|Debian VM image rootfs
extlinux|Debian VM image boot loader
libvirt-daemon|private libvirtd for VMs
libvirt-daemon-driver-qemu|libvirt's QEMU driver
libvirt-clients|virsh for the VM driver
iproute2|ip for a cluster's bridge and namespaces
util-linux|nsenter into a cluster node's namespace
nftables|nft for a cluster's host firewall
EOF
}

installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
reasons=()
while IFS='|' read -r pkg why; do
  installed "$pkg" || { missing+=("$pkg"); reasons+=("$pkg ($why)"); }
done < <(packages)

if [ ${#missing[@]} -eq 0 ]; then exit 0; fi

if [ "${1:-}" = --check ]; then
  echo "prerequisites: missing Debian packages: ${reasons[*]}" >&2
  exit 1
fi

say() { printf '[prerequisites] %s\n' "$*" >&2; }
say "installing from Debian: ${reasons[*]}"

if [ "$(id -u)" != 0 ]; then
  say "cannot install as $(id -un): run this once as root, then try again:"
  say "  sudo apt-get install -y ${missing[*]}"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Update the package lists first: on a fresh machine they are empty.
if ! apt-get update -q >"$log" 2>&1; then
  say "apt-get update failed:"; tail -n 15 "$log" >&2; exit 1
fi
if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  say "apt-get install failed:"; tail -n 15 "$log" >&2
  for pkg in "${missing[@]}"; do
    installed "$pkg" || say "  not installed: $pkg"
  done
  exit 1
fi
say "installed: ${missing[*]}"
