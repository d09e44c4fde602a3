#!/usr/bin/env bash
# Build dist/nolink_<version>_<arch>.deb for Debian 12 from this checkout (as root or not).
#
# Why not dh-virtualenv (it is in Debian 12): it needs debhelper, dpkg-buildpackage and a debian/
# source package, and does the same two things this script does: a virtual environment built at
# its final path's image, then its paths fixed. Here that is a few lines: the environment is built
# in a staging tree, its scripts' #! lines and pyvenv.cfg rewritten to /opt/venvs/nolink, byte code
# compiled with the final paths, and dpkg-deb packs the tree (root:root, modes as staged). The build
# host needs the build tools scripts/setup.sh installs and PyPI; the target host needs neither
# (no compiler, no network): only the Debian packages in Depends.
#
# The environment links to Debian's /usr/bin/python3.11 (a symlink, not a copy): the interpreter
# gets Debian's security updates, and Depends pins the minor version the environment was built for.
#
# Usage: scripts/build-deb.sh            -> dist/nolink_<version>_<arch>.deb (printed last)
# Env:   PIP_CACHE_DIR, PIP_INDEX_URL ... as for pip (the cache keeps tesserocr's compiled wheel)
set -euo pipefail
cd "$(dirname "$0")/.."
here=$(pwd)
py=/usr/bin/python3
for tool in dpkg-deb "$py" gzip; do
  command -v "$tool" >/dev/null || { echo "build-deb: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
version=$("$py" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
arch=$(dpkg --print-architecture)
pyver=$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
pynext=$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1] + 1}")')

work=$(mktemp -d "${TMPDIR:-/tmp}/nolink-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
venv=/opt/venvs/nolink
staged=$root$venv
umask 022

echo "== environment ($venv, Python $pyver)"
"$py" -m venv "$staged"
"$staged/bin/python" -m pip install -q --upgrade pip
# a clean copy of the sources: no .venv, no build leftovers of the editable install
mkdir "$work/src"
if git rev-parse --git-dir >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard | grep -zv '^\.' | tar --null -T - -cf - | tar -xf - -C "$work/src"
else
  tar --exclude=./.venv --exclude=./dist --exclude=./build --exclude='*.egg-info' -cf - . | tar -xf - -C "$work/src"
fi
# tesserocr from source against Debian's libtesseract (its PyPI wheel carries another Tesseract)
PIP_NO_BINARY=tesserocr "$staged/bin/python" -m pip install -q --no-compile "$work/src"
"$staged/bin/python" -m pip uninstall -q -y pip setuptools
rm -f "$staged"/lib/python*/site-packages/nolink-*.dist-info/direct_url.json
# the staging path out of every text file of the environment (scripts' #!, activate, pyvenv.cfg)
grep -rlI --null "$staged" "$staged" | xargs -0 -r sed -i "s#$staged#$venv#g"
"$staged/bin/python" -m compileall -q -j 0 -s "$root" -p / "$staged/lib" >/dev/null || true
if grep -rlI "$root" "$staged" | grep -q .; then
  echo "build-deb: the staging path is still in:" >&2; grep -rlI "$root" "$staged" >&2; exit 1
fi

echo "== files"
install -d "$root/usr/bin" "$root/lib/systemd/system" "$root/usr/lib/sysusers.d" "$root/usr/lib/tmpfiles.d" \
  "$root/usr/share/man/man8" "$root/usr/share/man/man5" "$root/usr/share/doc/nolink" "$root/usr/share/nolink" \
  "$root/etc/nolink" "$root/DEBIAN"
ln -s "$venv/bin/nolink" "$root/usr/bin/nolink"
sed -e "s#/opt/nolink/.venv/bin/nolink#/usr/bin/nolink#g" \
    -e "s#^Documentation=.*#Documentation=man:nolink(8) man:nolink.toml(5) file:/usr/share/doc/nolink/README.md.gz#" \
    -e "1,2c# nolink milter for Postfix, from the nolink Debian package." \
    systemd/nolink.service > "$root/lib/systemd/system/nolink.service"
install -m 0644 systemd/nolink.sysusers "$root/usr/lib/sysusers.d/nolink.conf"
install -m 0644 systemd/nolink.tmpfiles "$root/usr/lib/tmpfiles.d/nolink.conf"
gzip -9n < man/nolink.8 > "$root/usr/share/man/man8/nolink.8.gz"
gzip -9n < man/nolink.toml.5 > "$root/usr/share/man/man5/nolink.toml.5.gz"
gzip -9n < README.md > "$root/usr/share/doc/nolink/README.md.gz"
install -m 0644 packaging/debian/copyright "$root/usr/share/doc/nolink/copyright"
cp -r config/grafana config/prometheus "$root/usr/share/nolink/"
# the conffile: a fresh install runs in dry_run (logs what it would do, changes nothing)
sed 's/^mode = "enforce"/mode = "dry_run"/' config/nolink.toml > "$root/etc/nolink/nolink.toml"
grep -q '^mode = "dry_run"' "$root/etc/nolink/nolink.toml" || { echo "build-deb: no mode line in config/nolink.toml" >&2; exit 1; }
echo /etc/nolink/nolink.toml > "$root/DEBIAN/conffiles"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
chmod -R u+rwX,go+rX,go-w "$root"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    -e "s/@PYTHON@/python$pyver, python3 (>= $pyver), python3 (<< $pynext)/" \
    packaging/debian/control.in > "$root/DEBIAN/control"

echo "== package"
mkdir -p dist
out=dist/nolink_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zgzip -z6 --build "$root" "$out" >/dev/null
echo "$here/$out"
