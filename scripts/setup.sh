#!/usr/bin/env bash
# Set up nolink on Debian 12 as root: system packages, then a virtual environment in .venv.
#   scripts/setup.sh          runtime only
#   scripts/setup.sh --test   also what the test suite needs (Postfix, dnsmasq, linters)
# Idempotent: re-running it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

pkgs=(python3 python3-venv python3-dev gcc libmilter-dev publicsuffix ca-certificates)
pkgs+=(libthai0 libthai-data)  # Thai word breaker: where a Thai name glued to Thai words begins (links/thai.py)
pkgs+=(libarchive13)  # RAR attachments, read in-process through libarchive-c
pkgs+=(libpq5)  # [central]: psycopg talks to PostgreSQL through Debian's libpq
# OCR (links printed in images): Tesseract with Thai and English, and what tesserocr builds against
pkgs+=(tesseract-ocr tesseract-ocr-tha tesseract-ocr-eng libtesseract-dev libleptonica-dev pkg-config g++)
if [ "$want_test" = 1 ]; then
  pkgs+=(postfix dnsmasq-base opendkim prometheus systemd groff-base chromium e2fsprogs)  # promtool; systemd-analyze; groff checks the man pages; the report screenshot test; chattr
  pkgs+=(libreoffice-writer-nogui)  # real-producer PDFs in tests/test_extract_producers.py
  pkgs+=(fonts-thai-tlwg)  # the OCR tests draw Thai letters and posters with these fonts
  pkgs+=(postgresql)  # tests/pgserver.py starts a private PostgreSQL 15 (initdb, pg_ctl) for [central]
  # tests/test_deb.py: scripts/build-deb.sh (git ls-files, dpkg-deb), then dpkg -i in a mount
  # namespace (unshare, setpriv) over overlays; postinst's systemd-sysusers/-tmpfiles come with systemd
  pkgs+=(git dpkg util-linux)
  pkgs+=(kannel)  # the SMS proxy tests send through a real bearerbox + smsbox (tests/test_sms_kannel.py)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  # Postfix asks how to configure itself; "No configuration" leaves /etc/postfix alone.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi

# Debian's interpreter, not whatever python3 is first on PATH: libmilter-dev and python3-dev match it.
py=/usr/bin/python3
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# tesserocr from source, against Debian's libtesseract: Debian's engine and language data (the
# PyPI wheel bundles another Tesseract that does not look in /usr/share/tesseract-ocr)
export PIP_NO_BINARY=tesserocr
if [ "$want_test" = 1 ]; then
  .venv/bin/python -m pip install -q -e '.[test]'
else
  .venv/bin/python -m pip install -q -e .
fi

# man nolink, man nolink.toml (root only: /usr/local/share/man)
if [ "$(id -u)" = 0 ]; then bash scripts/install-man.sh; fi
