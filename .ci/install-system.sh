#!/usr/bin/env bash
# Installs the real mail servers and scanners the tests start on loopback.
# Packaged daemons must not start on public ports during install (DESIGN.md §5), hence policy-rc.d.
set -euo pipefail
pkgs=(openssl curl dovecot-core dovecot-imapd dovecot-pop3d postfix clamav-daemon swaks stunnel4 mitmproxy chromium nftables iproute2 python3)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && exit 0
export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
had_policy=0; [ -e /usr/sbin/policy-rc.d ] && had_policy=1
if [ $had_policy -eq 0 ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; fi
trap '[ $had_policy -eq 0 ] && rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
