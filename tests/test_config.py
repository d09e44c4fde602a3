from __future__ import annotations

from pathlib import Path

import pytest

from conftest import HERE, ROOT
from nolink.config import Config, as_dict, load, parse
from nolink.errors import ConfigError


def test_example_config_equals_the_defaults() -> None:
    assert load(ROOT / "config" / "nolink.toml") == Config()


def test_empty_file_is_the_defaults() -> None:
    assert parse("") == Config()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('mode = "audit"', "mode = 'audit': use one of enforce, dry_run"),
        ('[links]\nactoin = "reject"', "unknown key links.actoin in [links]"),
        (
            '[links]\naction = "bounce"',
            "links.action = 'bounce': use one of reject, quarantine, tempfail, accept",
        ),
        ("[links]\nmax_depth = 0", "links.max_depth = 0: must be between 1 and 10000"),
        ('[links]\nmax_depth = "100"', "links.max_depth = '100': expected an integer"),
        ("[links]\ncount_email = 1", "links.count_email = 1: expected true or false"),
        (
            '[scope]\ninternal_domains = "go.th"',
            "scope.internal_domains = 'go.th': expected a list of strings",
        ),
        ('[scope]\ninternal_domains = ["a@go.th"]', "scope.internal_domains: 'a@go.th' is not a domain name"),
        ('[milter]\nsocket_mode = "999"', "milter.socket_mode = '999': expected an octal file mode"),
        ('[milter]\non_error = "reject"', "milter.on_error = 'reject': use one of tempfail, accept"),
        ('[links]\nreject_text = "ห้ามมีลิงก์"', "links.reject_text: SMTP replies must be one line of ASCII"),
        ('links = "x"', "links must be a table"),
        ("[nosuch]\nx = 1", "unknown key nosuch"),
        ("mode = ", "not valid TOML"),
    ],
)
def test_errors_name_the_key_and_what_is_allowed(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse(text, "/etc/nolink/nolink.toml")
    assert message in str(e.value)
    assert str(e.value).startswith("/etc/nolink/nolink.toml")


def test_domains_are_normalised() -> None:
    cfg = parse('[scope]\ninternal_domains = ["GO.TH.", "กรมการปกครอง.ไทย"]')
    assert cfg.scope.internal_domains == ("go.th", "xn--12caamp1jsbpcd4i6b.xn--o3cw4h")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "nope.toml")


def test_bad_psl_file_is_a_config_error(tmp_path: Path) -> None:
    from nolink.scan import Scanner

    with pytest.raises(ConfigError, match=r"links\.psl_file"):
        Scanner(parse(f'[links]\npsl_file = "{tmp_path}/missing.dat"'))


def test_local_psl_file(tmp_path: Path) -> None:
    from nolink.scan import Scanner

    psl = tmp_path / "psl.dat"
    psl.write_text("// test list\nth\ngo.th\n")
    s = Scanner(parse(f'[links]\npsl_file = "{psl}"'))
    assert [x.text for x in s.text.find("dla.go.th and example.com", HERE)] == ["dla.go.th"]


def test_as_dict_round_trips_through_toml() -> None:
    import tomllib

    from nolink.adapters.cli import cmd_show_config

    class Out:
        text = ""

        def write(self, s: str) -> None:
            self.text += s

    out = Out()
    cmd_show_config(None, Config(), out, out)  # type: ignore[arg-type]
    assert parse(out.text) == Config()
    assert as_dict(Config())["links"]["action"] == "reject"
    assert tomllib.loads(out.text)["milter"]["on_error"] == "tempfail"
