#!/usr/bin/env bash
# Install nolink as a systemd service, from this checkout (as root, after scripts/setup.sh):
# user nolink, /var/spool/postfix/nolink, /etc/nolink/nolink.toml (kept if present), the unit.
set -euo pipefail
cd "$(dirname "$0")/.."
here=$(pwd)
[ -x .venv/bin/nolink ] || bash scripts/setup.sh
getent group postfix >/dev/null || { echo "no postfix group: install Postfix first (apt-get install postfix)" >&2; exit 1; }
install -m 0644 systemd/nolink.sysusers /usr/lib/sysusers.d/nolink.conf
install -m 0644 systemd/nolink.tmpfiles /usr/lib/tmpfiles.d/nolink.conf
if command -v systemd-sysusers >/dev/null; then systemd-sysusers nolink.conf; else
  getent passwd nolink >/dev/null || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin nolink
fi
if command -v systemd-tmpfiles >/dev/null; then systemd-tmpfiles --create nolink.conf; else
  install -d -o nolink -g postfix -m 2750 /var/spool/postfix/nolink; install -d -m 0755 /etc/nolink
fi
[ -e /etc/nolink/nolink.toml ] || install -m 0644 config/nolink.toml /etc/nolink/nolink.toml
bash scripts/install-man.sh   # man nolink, man nolink.toml
sed "s#/opt/nolink#${here}#g" systemd/nolink.service > /etc/systemd/system/nolink.service
chmod -R a+rX "$here"   # the nolink user reads the code and the virtual environment
systemctl daemon-reload 2>/dev/null || echo "systemd is not running: start nolink with 'systemctl start nolink' once it is"
echo "installed: systemctl enable --now nolink; then add the main.cf lines from README.md"
