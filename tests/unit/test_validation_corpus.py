"""Every published vCon of the corpus, through the validation policy."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.corpus_expectations import (
    ASSIGN_UUID,
    EXPECTATIONS,
    Accepted,
    Expectation,
    Refused,
    corpus_files,
    expectation,
)
from vconstore.domain.errors import VconInvalid
from vconstore.domain.validation import ValidationPolicy, validate_vcon_text

FILES = corpus_files()
DEFAULT = ValidationPolicy()
STRICT = ValidationPolicy(strict=True)


def _read(path: Path) -> str:
    # newline="" keeps line endings as published: the stored text must be the sent text.
    with path.open(encoding="utf-8", newline="") as handle:
        return handle.read()


def test_the_table_covers_exactly_the_corpus() -> None:
    assert FILES, "corpus not found: set VCON_CORPUS_DIR"
    assert {f.name for f in FILES} == set(EXPECTATIONS)
    assert set(ASSIGN_UUID) <= set(EXPECTATIONS)


def _check(path: Path, want: Expectation, policy: ValidationPolicy, assign_uuid: bool) -> None:
    text = _read(path)
    if isinstance(want, Accepted):
        got = validate_vcon_text(text, policy, assign_uuid=assign_uuid)
        warnings = {(w.path, w.message) for w in got.warnings}
        assert {p for p, _ in warnings} == {p for p, _ in want.warnings}
        for wanted_path, substring in want.warnings:
            assert any(p == wanted_path and substring in m for p, m in warnings), (
                wanted_path,
                substring,
                warnings,
            )
        assert got.signed is want.signed
        if want.detected_version is not None:
            assert got.detected_version == want.detected_version
        if got.assigned_uuid:
            assert got.text == text.replace("{", f'{{"uuid":"{got.uuid}",', 1)
        else:
            assert got.text == text  # stored exactly as sent
        return
    with pytest.raises(VconInvalid) as refused:
        validate_vcon_text(text, policy, assign_uuid=assign_uuid)
    violations = [(v.path, v.message) for v in refused.value.violations]
    assert refused.value.reason == want.reason
    for wanted_path, substring in want.violations:
        assert any(p == wanted_path and substring in m for p, m in violations), (
            wanted_path,
            substring,
            violations,
        )
    if want.complete:
        assert len(violations) == len(want.violations), violations


@pytest.mark.parametrize("path", FILES, ids=[f.name[:2] for f in FILES])
def test_corpus_file(path: Path) -> None:
    _check(path, expectation(path.name), DEFAULT, assign_uuid=False)


@pytest.mark.parametrize("name", sorted(ASSIGN_UUID), ids=[n[:2] for n in sorted(ASSIGN_UUID)])
def test_corpus_file_with_assign_uuid(name: str) -> None:
    path = next(f for f in FILES if f.name == name)
    _check(path, expectation(name, assign_uuid=True), DEFAULT, assign_uuid=True)


@pytest.mark.parametrize("path", FILES, ids=[f.name[:2] for f in FILES])
def test_corpus_file_in_strict_mode(path: Path) -> None:
    """Strict mode refuses exactly the files that had warnings, at the warnings' paths."""
    want = expectation(path.name)
    if isinstance(want, Accepted) and want.warnings:
        want = Refused(want.warnings)
    elif isinstance(want, Refused):
        # The table lists violations only; in strict mode the warnings join them.
        want = replace(want, complete=False)
    _check(path, want, STRICT, assign_uuid=False)


def test_negative_examples_are_all_refused() -> None:
    negatives = [f for f in FILES if f.name[:2] in {"90", "91", "92", "93"}]
    assert len(negatives) == 4
    for path in negatives:
        with pytest.raises(VconInvalid):
            validate_vcon_text(_read(path), DEFAULT)
