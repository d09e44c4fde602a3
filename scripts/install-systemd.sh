#!/usr/bin/env bash
# Install nolink as a systemd service, from this checkout (as root, after scripts/setup.sh):
# user nolink, /var/spool/postfix/nolink, /etc/nolink/nolink.toml (kept if present), the unit.
# Also: the man pages into /usr/local/share/man (and mandb), and chmod -R a+rX on this whole
# checkout (the nolink user reads the code and .venv); it says so as it does them.
# For production prefer the Debian package (scripts/build-deb.sh; README "Install").
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
echo "installing man nolink, man nolink.toml into /usr/local/share/man and running mandb"
bash scripts/install-man.sh   # man nolink, man nolink.toml
sed "s#/opt/nolink#${here}#g" systemd/nolink.service > /etc/systemd/system/nolink.service
echo "chmod -R a+rX $here: the nolink user must read the code and the virtual environment"
chmod -R a+rX "$here"   # the nolink user reads the code and the virtual environment
systemctl daemon-reload 2>/dev/null || echo "systemd is not running: start nolink with 'systemctl start nolink' once it is"
echo "installed: systemctl enable --now nolink; then: $here/.venv/bin/nolink setup postfix (prints the main.cf lines)"
