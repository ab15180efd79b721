"""The Python blocks of docs/python.md and README.md, run as they are
written, with the rings they name renamed so that runs never meet."""

import doctest
import os
import pathlib
import re
import uuid

import pytest

import shmlane

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = [ROOT / "docs" / "python.md", ROOT / "README.md"]


def python_blocks():
    blocks = []
    for doc in DOCS:
        lines = doc.read_text().splitlines()
        start = None
        for number, line in enumerate(lines, 1):
            fence = line.strip()
            if start is None and fence == "```python":
                start = number
            elif start is not None and fence == "```":
                code = "\n".join(lines[start:number - 1])
                blocks.append(pytest.param(code, id=f"{doc.name}:{start + 1}"))
                start = None
    return blocks


BLOCKS = python_blocks()


def test_the_package_docstring_example_runs():
    failures, tried = doctest.testmod(shmlane, verbose=False)
    assert tried >= 4
    assert failures == 0


def test_the_docs_hold_python_blocks():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("code", BLOCKS)
def test_a_python_block_runs(code):
    names = set(re.findall(r'(?:create|open|remove)\(\s*"([A-Za-z0-9._-]+)"', code))
    suffix = f"-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    for name in names:
        code = re.sub(rf"\b{re.escape(name)}\b", name + suffix, code)
    try:
        exec(compile(code, "<doc block>", "exec"), {"__name__": "doc_block"})
    finally:
        for name in names:
            try:
                shmlane.remove(name + suffix)
            except shmlane.NotFoundError:
                pass
