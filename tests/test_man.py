"""The man pages nolink(8) and nolink.toml(5): current, complete, valid roff, installed."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from conftest import ROOT
from nolink.adapters.cli import build_parser
from nolink.config import Config, as_dict

REGENERATE = "run .venv/bin/python scripts/make_man.py and commit man/"


def make_man() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_man", ROOT / "scripts" / "make_man.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_pages_are_current() -> None:
    for path, text in make_man().pages().items():
        assert path.exists(), f"{path.relative_to(ROOT)} is missing: {REGENERATE}"
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(ROOT)} is out of date (a command, option or config key changed): {REGENERATE}"
        )


def keys() -> list[str]:
    return [k for k, _ in make_man().config_keys()]


def test_readme_config_reference_has_exactly_the_config_keys() -> None:
    documented = set(make_man().readme_keys())
    assert set(keys()) - documented == set(), "config keys missing from README's configuration table"
    assert documented - set(keys()) == set(), "README's configuration table names keys config.py lacks"


def test_readme_defaults_agree_with_the_dataclasses() -> None:
    defaults = as_dict(Config())
    checked = 0
    for key, (written, _) in make_man().readme_keys().items():
        literal = written.removeprefix("`").removesuffix("`")
        try:
            value = tomllib.loads(f"x = {literal}")["x"]
        except tomllib.TOMLDecodeError:
            continue  # prose ("see config/nolink.toml", "dkim.action", a list of headers)
        actual: object = defaults
        for part in key.split("."):
            actual = actual[part]  # type: ignore[index]
        assert value == actual, f"README says {key} defaults to {written}, config.py to {actual!r}"
        checked += 1
    assert checked >= 30


def test_pages_name_every_command_and_key() -> None:
    man8 = (ROOT / "man" / "nolink.8").read_text()
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:  # type: ignore[union-attr]
        assert f".SS {name.replace('-', chr(92) + '-')}" in man8
    for section in ("SIGNALS", "EXIT STATUS", "FILES"):
        assert f".SH {section}" in man8
    man5 = (ROOT / "man" / "nolink.toml.5").read_text()
    for key in keys():
        assert f"\\fB{key.rsplit('.', 1)[-1].replace('-', chr(92) + '-')}\\fR = " in man5, key
    assert "(undocumented)" not in man5


@pytest.mark.skipif(shutil.which("groff") is None, reason="groff is not installed (groff-base)")
@pytest.mark.parametrize("page", ["nolink.8", "nolink.toml.5"])
def test_pages_are_valid_roff(page: str) -> None:
    r = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", "-z", str(ROOT / "man" / page)], capture_output=True, text=True
    )
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_set_up_scripts_install_the_pages(tmp_path: Path) -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "install-man.sh"), str(tmp_path)], check=True)
    man = tmp_path / "usr" / "local" / "share" / "man"
    assert (man / "man8" / "nolink.8").read_text() == (ROOT / "man" / "nolink.8").read_text()
    assert (man / "man5" / "nolink.toml.5").read_text() == (ROOT / "man" / "nolink.toml.5").read_text()
    for script in ("setup.sh", "install-systemd.sh"):
        assert "bash scripts/install-man.sh" in (ROOT / "scripts" / script).read_text(), script


def test_every_section_a_page_refers_to_is_in_it() -> None:
    """issue 22 item 11: nolink.toml(5) said "see Named exceptions", a README section it lacked."""
    import re

    for page in ("nolink.toml.5", "nolink.8"):
        text = (ROOT / "man" / page).read_text(encoding="utf-8")
        titles = {t.strip().strip('"').upper() for t in re.findall(r"^\.SH (.+)$", text, re.M)}
        for ref in re.findall(r"\(see ([A-Z][a-z][^)]*)\)", text):
            assert ref.upper() in titles or ref.endswith(" in README.md"), f"{page} refers to {ref!r}"
    assert "NAMED EXCEPTIONS" in (ROOT / "man" / "nolink.toml.5").read_text()
