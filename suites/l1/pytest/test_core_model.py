"""Tests as a project might already have them: marked by what they test and what they need.

suites/l1/pytest_core_model.toml runs `pytest -m 'core_model and cpu'` here under shakedown.
"""

import pytest


def tokenize(text):
    """A stand-in for the model code under test."""
    return text.split()


@pytest.mark.core_model
@pytest.mark.cpu
def test_tokenize_splits_on_whitespace():
    assert tokenize("a b  c") == ["a", "b", "c"]


@pytest.mark.core_model
@pytest.mark.cpu
def test_tokenize_empty_text():
    assert tokenize("") == []


@pytest.mark.core_model
@pytest.mark.gpu
def test_on_a_gpu():
    # Deselected by `-m 'core_model and cpu'`: it must never run in this suite.
    pytest.fail("a GPU test ran in the CPU selection")
