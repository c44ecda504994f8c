"""Config loading in this process: one bad input per case, each with the exact line it must
produce; hostile files, variables, defaults and the shipped example."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
import yaml
from pydantic import BaseModel

from exporter.config.errors import ConfigError
from exporter.config.loader import load_config, parse_config, render_config
from exporter.config.schema import AlertThresholds
from exporter.config.thresholds import DEFAULTS, Thresholds
from exporter.config.types import SECRET_KEYS
from exporter.sources import SOURCE_KINDS

from ...config_sections import ga, source
from ...helpers import mixin_generator, write_config
from ...hostile_yaml import alias_chain, billion_laughs, deep_nesting

FIXTURES = Path(__file__).parents[2] / "fixtures"

BAD_CONFIGS: list[tuple[str, Any, str]] = [
    ("top-level unknown key", {"sources": [source()], "extra": 1}, "extra: unknown key"),
    (
        "unknown threshold",
        {"sources": [source()], "thresholds": {"failure_ratioo": 0.1}},
        "thresholds.failure_ratioo: unknown key (did you mean failure_ratio?)",
    ),
    (
        "a threshold ratio over 1",
        {"sources": [source()], "thresholds": {"failure_ratio": 5}},
        "thresholds.failure_ratio: must be at most 1, got 5",
    ),
    (
        "a threshold duration that is none",
        {"sources": [source()], "thresholds": {"send_overdue_after": "soon"}},
        'thresholds.send_overdue_after: invalid duration "soon": expected a string like 30s, '
        "5m or 1h30m",
    ),
    ("no sources", {"sources": []}, "sources: at least one source is required"),
    ("sources missing", {}, "sources: required key is missing"),
    ("not a mapping", ["x"], "(top level): must be a mapping with a sources key"),
    (
        "unknown source key",
        {"sources": [source(pol_interval="30s")]},
        "sources[0].pol_interval: unknown key (did you mean poll_interval?)",
    ),
    (
        "bad duration",
        {"sources": [source(poll_interval="30x")]},
        'sources[0].poll_interval: invalid duration "30x": expected a string like 30s, 5m or 1h30m',
    ),
    (
        "zero duration",
        {"sources": [source(poll_interval="0s")]},
        "sources[0].poll_interval: must be greater than zero",
    ),
    (
        "negative duration",
        {"sources": [source(timeout=-1)]},
        "sources[0].timeout: invalid duration: must not be negative",
    ),
    (
        "NaN duration",
        {"sources": [source(poll_interval=float("nan"))]},
        "sources[0].poll_interval: invalid duration: must be a finite number",
    ),
    (
        "infinite duration",
        {"sources": [source(retention=float("inf"))]},
        "sources[0].retention: invalid duration: must be a finite number",
    ),
    (
        "duplicate names",
        {"sources": [source(), source()]},
        'sources[1].name: duplicate source name "prod" (also sources[0])',
    ),
    (
        "bad name",
        {"sources": [source(name="pr od")]},
        'sources[0].name: invalid name "pr od": use 1 to 63 letters, digits, "_", "." or "-", '
        "starting with a letter or digit",
    ),
    ("missing name", {"sources": [source(name=None)]}, "sources[0].name: required key is missing"),
    (
        "bad url scheme",
        {"sources": [source(base_url="ftp://x")]},
        'sources[0].base_url: invalid URL "ftp://x": expected http:// or https:// and a host',
    ),
    (
        "credentials in url",
        {"sources": [source(base_url="https://u:p@x.example")]},
        "sources[0].base_url: credentials in the URL are not allowed: use the auth settings",
    ),
    (
        "unknown type",
        {"sources": [source(type="nope")]},
        'sources[0].type: unknown source type "nope" (expected one of experiture, greenarrow)',
    ),
    (
        "missing type",
        {"sources": [source(type=None)]},
        "sources[0].type: required key is missing (experiture, greenarrow)",
    ),
    (
        "two auth methods",
        {
            "sources": [
                source(
                    oauth2={
                        "token_url": "https://id.example/token",
                        "client_id": "c",
                        "client_secret": "s",
                    }
                )
            ]
        },
        "sources[0]: set exactly one of authorization or oauth2",
    ),
    (
        "no auth",
        {"sources": [source(authorization=None)]},
        "sources[0]: set exactly one of authorization or oauth2",
    ),
    (
        "credentials twice",
        {
            "sources": [
                source(authorization={"credentials": "a", "credentials_file": "/etc/hostname"})
            ]
        },
        "sources[0].authorization: set only one of credentials and credentials_file",
    ),
    (
        "missing secret file",
        {"sources": [source(authorization={"credentials_file": "/nonexistent/token"})]},
        "sources[0].authorization.credentials_file: file not found: /nonexistent/token",
    ),
    (
        "secret file is a directory",
        {"sources": [source(authorization={"credentials_file": "/proc"})]},
        "sources[0].authorization.credentials_file: not a regular file: /proc",
    ),
    (
        "unset variable",
        {"sources": [source(authorization={"credentials": "${CAMPAIGN_EXPORTER_TEST_UNSET}"})]},
        "sources[0].authorization.credentials: environment variable "
        "CAMPAIGN_EXPORTER_TEST_UNSET is not set",
    ),
    (
        "concurrency too low",
        {"sources": [source(concurrency=0)]},
        "sources[0].concurrency: must be at least 1, got 0",
    ),
    (
        "concurrency not a number",
        {"sources": [source(concurrency="many")]},
        'sources[0].concurrency: expected a whole number, got "many"',
    ),
    (
        "page size over the API maximum",
        {"sources": [source(discovery={"page_size": 500})]},
        "sources[0].discovery.page_size: must be at most 100, got 500",
    ),
    (
        "nothing to poll",
        {"sources": [source(discovery={"enabled": False})]},
        "sources[0]: discovery is disabled and no campaigns are listed",
    ),
    (
        "greenarrow with a Bearer token",
        {
            "sources": [
                {
                    "name": "ga",
                    "type": "greenarrow",
                    "base_url": "https://ga.example.com",
                    "authorization": {"credentials": "x"},
                }
            ]
        },
        "sources[0]: authorization.type must be Basic: GreenArrow takes the pre-encoded "
        "organization id and API key as Basic credentials",
    ),
    (
        "greenarrow page size over the API maximum",
        {
            "sources": [
                {
                    "name": "ga",
                    "type": "greenarrow",
                    "base_url": "https://ga.example.com",
                    "basic_auth": {"username": "1", "password": "k"},
                    "per_page": 1000,
                }
            ]
        },
        "sources[0].per_page: must be at most 500, got 1000",
    ),
    (
        "greenarrow without credentials",
        {"sources": [{"name": "ga", "type": "greenarrow", "base_url": "https://ga.example.com"}]},
        "sources[0]: set exactly one of basic_auth or authorization",
    ),
    (
        "oauth2 without secret",
        {
            "sources": [
                source(
                    authorization=None,
                    oauth2={"token_url": "https://id.example/token", "client_id": "c"},
                )
            ]
        },
        "sources[0].oauth2: one of client_secret or client_secret_file is required",
    ),
    # -- what passed the check and failed at runtime, or read as a library's words --------
    (
        "greenarrow base_url with the API path",
        {"sources": [ga(base_url="https://ga.example.com/ga/api/v2/")]},
        'sources[0].base_url: ends in "/ga/api/v2", which the exporter adds (requests would '
        'go to /ga/api/v2/ga/api/v2/...): use "https://ga.example.com"',
    ),
    (
        "greenarrow base_url with the report path",
        {"sources": [ga(base_url="https://x.example/proxy/ga/api/v2/system_campaigns")]},
        'sources[0].base_url: ends in "/ga/api/v2/system_campaigns", which the exporter adds '
        "(requests would go to /ga/api/v2/system_campaigns/ga/api/v2/...): use "
        '"https://x.example/proxy"',
    ),
    (
        "variable without braces",
        {"sources": [source(authorization={"credentials": "$TOKEN"})]},
        'sources[0].authorization.credentials: "$TOKEN" is not expanded: write ${TOKEN} for an '
        "environment variable, $$TOKEN for a literal $TOKEN",
    ),
    (
        "a dollar inside a credential is not quoted back",
        {"sources": [source(authorization={"credentials": "pa$sword"})]},
        'sources[0].authorization.credentials: a "$" before a name is not expanded: write '
        "${NAME} for an environment variable, $$ for a literal $",
    ),
    (
        "unclosed variable",
        {"sources": [source(authorization={"credentials": "${TOKEN"})]},
        'sources[0].authorization.credentials: "${" has no closing "}": write ${NAME}',
    ),
    (
        "not a variable name",
        {"sources": [source(campaigns=["${1ST}"])]},
        'sources[0].campaigns[0]: "${1ST}" holds no variable name (letters, digits and _, '
        "not first a digit)",
    ),
    (
        "empty secret file",
        {
            "sources": [
                ga(basic_auth={"username": "1", "password_file": str(FIXTURES / "empty-secret")})
            ]
        },
        f"sources[0].basic_auth.password_file: file is empty: {FIXTURES / 'empty-secret'}",
    ),
    (
        "empty secret file path",
        {"sources": [ga(basic_auth={"username": "1", "password_file": ""})]},
        "sources[0].basic_auth.password_file: must not be empty: the path of a file holding "
        "the secret",
    ),
    (
        "url with a trailing space",
        {"sources": [source(base_url="https://api.experiture.ai/public/v1 ")]},
        'sources[0].base_url: invalid URL "https://api.experiture.ai/public/v1 ": it contains '
        "whitespace",
    ),
    (
        "credentials in a url are never quoted",
        {"sources": [source(base_url="ftp://user:hunter2@x.example")]},
        "sources[0].base_url: credentials in the URL are not allowed: use the auth settings",
    ),
    (
        "unknown channel",
        {"sources": [source(discovery={"channels": ["email", "whatsapp"]})]},
        'sources[0].discovery.channels[1]: unknown channel "whatsapp": expected one of email, '
        "sms, push, direct_mail",
    ),
    (
        "timeout longer than the poll interval",
        {"sources": [source(poll_interval="30s", timeout="2m")]},
        "sources[0].timeout: 2m is longer than poll_interval (30s): one slow request would "
        "hold up the next refresh",
    ),
    (
        "timeout longer than the default poll interval",
        {"sources": [ga(timeout="90s")]},
        "sources[0].timeout: 90s is longer than poll_interval (1m): one slow request would "
        "hold up the next refresh",
    ),
    (
        "a key of the other source type",
        {"sources": [ga(summary_interval="5m")]},
        "sources[0].summary_interval: unknown key: only valid for type experiture",
    ),
    (
        "a near miss in a nested section",
        {"sources": [source(discovery={"page_sise": 50})]},
        "sources[0].discovery.page_sise: unknown key (did you mean page_size?)",
    ),
    (
        "a near miss of the top-level key",
        {"sources": [source()], "sourcess": [source()]},
        "sourcess: unknown key (did you mean sources?)",
    ),
    (
        "a list given as a string",
        {"sources": [source(campaigns="c-1")]},
        'sources[0].campaigns: expected a list, got "c-1"',
    ),
    (
        "a section given as a string",
        {"sources": [source(discovery="on")]},
        'sources[0].discovery: expected a mapping of keys to values, got "on"',
    ),
    (
        "a fractional count",
        {"sources": [source(max_campaigns=1.5)]},
        "sources[0].max_campaigns: expected a whole number, got 1.5",
    ),
    (
        "a boolean that is not one",
        {"sources": [source(discovery={"enabled": "maybe"})]},
        'sources[0].discovery.enabled: expected true or false, got "maybe"',
    ),
    (
        "an empty client id",
        {
            "sources": [
                source(
                    authorization=None,
                    oauth2={
                        "token_url": "https://id.example/t",
                        "client_id": "",
                        "client_secret": "s",
                    },
                )
            ]
        },
        "sources[0].oauth2.client_id: must not be empty",
    ),
    (
        "a rate of zero",
        {"sources": [source(rate_limit={"requests_per_second": 0})]},
        "sources[0].rate_limit.requests_per_second: must be greater than 0, got 0",
    ),
    (
        "a number where a string goes",
        {"sources": [source(name=5)]},
        "sources[0].name: expected a string, got 5 (YAML reads it as a number: put the value "
        "in quotes)",
    ),
    (
        "an unquoted organization id",
        {"sources": [ga(basic_auth={"username": 1, "password": "k"})]},
        "sources[0].basic_auth.username: expected a string, got 1 (YAML reads it as a number: "
        "put the value in quotes)",
    ),
    (
        "an unquoted yes",
        {"sources": [ga(basic_auth={"username": True, "password": "k"})]},
        "sources[0].basic_auth.username: expected a string, got true (YAML reads it as true or "
        "false: put the value in quotes)",
    ),
    (
        "an unquoted numeric key, never quoted back",
        {"sources": [ga(basic_auth={"username": "1", "password": 424242})]},
        "sources[0].basic_auth.password: expected a non-empty string (YAML reads it as a "
        "number: put the value in quotes)",
    ),
]


@pytest.mark.parametrize(
    ("data", "message"), [c[1:] for c in BAD_CONFIGS], ids=[c[0] for c in BAD_CONFIGS]
)
def test_bad_config_is_refused_with_its_exact_message(data: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert caught.value.lines == [message]


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(tmp_path, "sources:\n  - name: [unclosed\n"))
    assert caught.value.lines == [
        "line 3, column 1: YAML syntax error: expected ',' or ']', but got '<stream end>'"
    ]


HOSTILE_FILES: list[tuple[str, Callable[[Path], object], str]] = [
    (
        "deep nesting",
        lambda p: p.write_text(deep_nesting()),
        "line 1, column 73: nested deeper than 64 levels",
    ),
    (
        "billion laughs",
        lambda p: p.write_text(billion_laughs()),
        "YAML aliases expand to more than 100000 values",
    ),
    (
        "aliases nesting deep",
        lambda p: p.write_text(alias_chain(70)),
        "YAML aliases nest deeper than 64 levels",
    ),
    (
        "alias inside itself",
        lambda p: p.write_text("sources: &s [*s]\n"),
        "line 1, column 10: a YAML alias refers to a node that contains it",
    ),
    (
        "too many values",
        lambda p: p.write_text("sources: [" + "0," * 100_000 + "]\n"),
        "more than 100000 values",
    ),
    (
        "over 1 MiB",
        lambda p: p.write_text("#" * (1 << 20) + "\n"),
        "file is larger than 1 MiB",
    ),
    ("a FIFO", os.mkfifo, "not a regular file"),
    ("a directory", os.mkdir, "not a regular file"),
    ("not UTF-8", lambda p: p.write_bytes(b"sources: [\xff]\n"), "not UTF-8 text"),
]


@pytest.mark.parametrize(
    ("make", "message"), [c[1:] for c in HOSTILE_FILES], ids=[c[0] for c in HOSTILE_FILES]
)
def test_hostile_file_is_refused_with_one_line(
    tmp_path: Path, make: Callable[[Path], object], message: str
) -> None:
    path = tmp_path / "config.yml"
    make(path)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.lines == [message]


def test_anchors_aliases_and_merge_keys_still_work(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """
sources:
  - &prod
    name: prod
    type: experiture
    authorization: &auth {credentials: t0ken}
    campaigns: [c-1]
  - <<: *prod
    name: staging
    base_url: https://staging.example.com/public/v1
  - name: ga
    type: greenarrow
    base_url: https://ga.example.com
    authorization: {<<: *auth, type: Basic}
""",
    )
    prod, staging, ga = load_config(path).sources
    assert (prod.name, staging.name) == ("prod", "staging")
    assert staging.base_url == "https://staging.example.com/public/v1"
    assert staging.campaigns == ["c-1"]  # type: ignore[attr-defined]
    assert staging.authorization.credentials.reveal() == "t0ken"  # type: ignore[attr-defined]
    assert ga.authorization.type == "Basic"  # type: ignore[attr-defined]
    assert ga.authorization.credentials.reveal() == "t0ken"  # type: ignore[attr-defined]


def test_variables_expand_and_dollar_dollar_is_literal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXP_TOKEN", "from-env")
    config = parse_config(
        {"sources": [source(authorization={"credentials": "${EXP_TOKEN}"}, campaigns=["a$$b"])]}
    )
    cfg = config.sources[0]
    assert cfg.authorization.credentials.reveal() == "from-env"  # type: ignore[attr-defined]
    assert cfg.campaigns == ["a$b"]  # type: ignore[attr-defined]


def test_a_duration_may_be_a_number_in_a_string(monkeypatch: pytest.MonkeyPatch) -> None:
    """``"30"`` and ``${POLL}`` with POLL=30 are 30 seconds, as ``30`` is."""
    monkeypatch.setenv("POLL", "30")
    given = [source(name="a", poll_interval=30), source(name="b", poll_interval="30")]
    given.append(source(name="c", poll_interval="${POLL}", timeout="2.5"))
    config = parse_config({"sources": given})
    assert [s.poll_interval for s in config.sources] == [30.0, 30.0, 30.0]
    assert config.sources[2].timeout == 2.5


def test_every_problem_is_told_in_one_run() -> None:
    """An unset variable does not hide the rest: a bad duration beside it, and in another
    source a schema error and a missing secret file, are all told at once."""
    data = {
        "sources": [
            source(
                authorization={"credentials": "${CAMPAIGN_EXPORTER_TEST_UNSET}"},
                poll_interval="30x",
            ),
            ga(per_page=0, basic_auth={"username": "1", "password_file": "/nonexistent/ga-key"}),
        ]
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert caught.value.lines == [
        "sources[0].authorization.credentials: environment variable "
        "CAMPAIGN_EXPORTER_TEST_UNSET is not set",
        'sources[0].poll_interval: invalid duration "30x": expected a string like 30s, 5m or 1h30m',
        "sources[1].per_page: must be at least 1, got 0",
        "sources[1].basic_auth.password_file: file not found: /nonexistent/ga-key",
    ]


def test_what_follows_from_an_unset_variable_is_not_told_again() -> None:
    """Left empty, the names are equal and a file path is wrong: that is the variable's
    doing, told once each, not as a duplicate name or a missing file."""
    data = {
        "sources": [
            source(name="${CAMPAIGN_EXPORTER_TEST_UNSET}"),
            ga(
                name="${CAMPAIGN_EXPORTER_TEST_UNSET}",
                basic_auth={"username": "1", "password_file": "${CAMPAIGN_EXPORTER_TEST_DIR}/k"},
            ),
        ]
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert caught.value.lines == [
        "sources[0].name: environment variable CAMPAIGN_EXPORTER_TEST_UNSET is not set",
        "sources[1].name: environment variable CAMPAIGN_EXPORTER_TEST_UNSET is not set",
        "sources[1].basic_auth.password_file: environment variable CAMPAIGN_EXPORTER_TEST_DIR "
        "is not set",
    ]


def test_no_message_is_in_a_librarys_words() -> None:
    for _name, _data, message in BAD_CONFIGS:
        for words in ("Input should", "Value error", "valid list", "String should", "pydantic"):
            assert words not in message


def fields_of(model: type[BaseModel]) -> Iterator[tuple[str, Any]]:
    """Every field of ``model`` and of the models inside it: (name, annotation)."""
    for name, field in model.model_fields.items():
        yield name, field.annotation
        for inner in (field.annotation, *get_args(field.annotation)):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                yield from fields_of(inner)


def test_messages_never_quote_a_credential() -> None:
    """The keys whose values messages leave out are the keys that hold a credential."""
    holding = {
        name
        for kind in SOURCE_KINDS.values()
        for name, annotation in fields_of(kind.config_model)
        if "exporter.config.secrets.Secret" in str(annotation) or "ProxyUrl" in str(annotation)
    }
    assert (
        holding
        == SECRET_KEYS
        == {"credentials", "client_secret", "password", "proxy_url", "proxy_connect_header"}
    )


# the keys thresholds: takes, with the mixin's defaults (durations in seconds)
THRESHOLDS = {
    "failure_ratio": 0.05,
    "failure_ratio_min_records": 100,
    "failure_ratio_completed_within": 86400.0,
    "send_overdue_after": 900.0,
    "stalled_after": 900.0,
    "bounce_rate": 0.05,
    "bounce_rate_min_messages": 1000,
    "falling_behind_poll_intervals": 2,
}


def test_the_config_the_page_and_the_mixin_name_the_same_thresholds() -> None:
    """The config's model, the thresholds in force and the mixin's config: the same keys
    and defaults, so that no key is settable in one and unknown to another."""
    assert AlertThresholds.model_fields.keys() == THRESHOLDS.keys()
    assert dataclasses.asdict(AlertThresholds().in_force()) == THRESHOLDS
    assert dataclasses.asdict(DEFAULTS) == THRESHOLDS
    assert {f.name for f in dataclasses.fields(Thresholds)} == THRESHOLDS.keys()
    mixin = mixin_generator().Config()
    in_the_mixins_words = {
        **THRESHOLDS,
        "failure_ratio_completed_within": "1d",
        "send_overdue_after": "15m",
        "stalled_after": "15m",
    }
    assert {key: getattr(mixin, key) for key in THRESHOLDS} == in_the_mixins_words


def test_thresholds_take_the_mixins_keys_and_print_back_only_when_set() -> None:
    """A config without ``thresholds:`` prints as before there were any (its hash the same)."""
    plain = parse_config({"sources": [source()]})
    assert "thresholds" not in render_config(plain)
    tuned = parse_config(
        {"sources": [source()], "thresholds": {"stalled_after": "30m", "bounce_rate": 0.02}}
    )
    assert (tuned.thresholds.stalled_after, tuned.thresholds.bounce_rate) == (1800.0, 0.02)
    assert tuned.thresholds.send_overdue_after == plain.thresholds.send_overdue_after == 900.0
    printed = yaml.safe_load(render_config(tuned))["thresholds"]
    assert (printed["stalled_after"], printed["bounce_rate"]) == ("30m", 0.02)
    assert parse_config(yaml.safe_load(render_config(tuned))).thresholds == tuned.thresholds


def test_defaults_are_filled_in() -> None:
    cfg = parse_config({"sources": [source()]}).sources[0]
    assert (cfg.poll_interval, cfg.timeout, cfg.concurrency) == (30.0, 10.0, 8)


def test_example_config_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped config.example.yaml loads once its secrets exist."""
    monkeypatch.setenv("EXPERITURE_TOKEN", "x")
    text = (Path(__file__).parents[3] / "config.example.yaml").read_text()
    data = yaml.safe_load(text)
    for src in data["sources"]:
        for key in ("authorization", "oauth2", "basic_auth"):
            auth = src.get(key) or {}
            for field in ("credentials_file", "client_secret_file", "password_file"):
                if field in auth:
                    secret = tmp_path / f"{src['name']}-{field}"
                    secret.write_text("s3cret\n")
                    auth[field] = str(secret)
    config = parse_config(data)
    assert config.sources
