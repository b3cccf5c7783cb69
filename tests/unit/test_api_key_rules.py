"""The API key format, scopes and organisation names."""

from __future__ import annotations

import re

import pytest

from vconstore.auth.keys import (
    KEY_PATTERN,
    generate_key,
    hashes_match,
    is_well_formed,
    key_hash,
    key_id,
    public_prefix,
)
from vconstore.auth.orgs import check_org
from vconstore.auth.scopes import ALL_SCOPES, UnknownScope, parse_scopes


def test_generated_keys_have_the_promised_form_and_entropy() -> None:
    keys = {generate_key() for _ in range(2000)}
    assert len(keys) == 2000
    for key in keys:
        assert KEY_PATTERN.fullmatch(key) and is_well_formed(key)
    # 40 characters of 62 each: log2(62) * 40 = 238 bits, of which every
    # position must vary (a constant position would betray a broken source).
    bodies = [key.removeprefix("vcs_live_sk_") for key in keys]
    assert {len(body) for body in bodies} == {40}
    for position in range(40):
        assert len({body[position] for body in bodies}) > 40
    assert public_prefix(next(iter(keys))) == next(iter(keys))[:16]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "vcs_live_sk_",
        "vcs_live_sk_" + "a" * 31,
        "vcs_live_sk_" + "a" * 65,
        "vcs_test_sk_" + "a" * 40,
        "VCS_LIVE_SK_" + "a" * 40,
        "vcs_live_sk_" + "a" * 39 + "-",
        "vcs_live_sk_" + "a" * 39 + "é",
        " vcs_live_sk_" + "a" * 40,
        "vcs_live_sk_" + "a" * 40 + "\n",
    ],
)
def test_malformed_keys_are_recognised(text: str) -> None:
    assert not is_well_formed(text)


@pytest.mark.parametrize("length", [32, 40, 64])
def test_every_allowed_length_is_well_formed(length: int) -> None:
    assert is_well_formed("vcs_live_sk_" + ("aZ9" * 22)[:length])


def test_hashes_compare_equal_only_for_the_same_key() -> None:
    key = generate_key()
    assert hashes_match(key_hash(key), key_hash(key))
    assert not hashes_match(key_hash(key), key_hash(key[:-1] + ("A" if key[-1] != "A" else "B")))
    assert len(key_hash(key)) == 32


def test_key_ids_look_like_the_hosted_services() -> None:
    ids = {key_id() for _ in range(500)}
    assert len(ids) == 500
    assert all(re.fullmatch(r"key_[0-9a-f]{24}", i) for i in ids)


def test_scopes_accept_commas_and_repeats_in_canonical_order() -> None:
    assert parse_scopes(["vcons:write,vcons:read", "keys:admin", " vcons:read "]) == (
        "vcons:read",
        "vcons:write",
        "keys:admin",
    )
    assert parse_scopes([",".join(reversed(ALL_SCOPES))]) == ALL_SCOPES


@pytest.mark.parametrize("values", [[], [""], [" , "]])
def test_no_scope_at_all_is_refused(values: list[str]) -> None:
    with pytest.raises(ValueError, match="no scope given"):
        parse_scopes(values)


@pytest.mark.parametrize("bad", ["vcons:admin", "VCONS:READ", "read", "vcons:read;vcons:write"])
def test_an_unknown_scope_is_named(bad: str) -> None:
    with pytest.raises(UnknownScope) as refused:
        parse_scopes(["vcons:read", bad])
    assert refused.value.scope == bad.strip()
    assert "vcons:read, vcons:write, vcons:redact, vcons:delete, keys:admin" in str(refused.value)


@pytest.mark.parametrize("name", ["dev", "acme", "Acme-Corp_2.eu", "a" * 64, "0"])
def test_organisation_names(name: str) -> None:
    assert check_org(name) == name


@pytest.mark.parametrize("name", ["", "-acme", "a" * 65, "ac me", "acmé", "acme/1", ".."])
def test_bad_organisation_names(name: str) -> None:
    with pytest.raises(ValueError, match="invalid organisation"):
        check_org(name)
