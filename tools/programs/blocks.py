"""The editable regions of a program: the lines between ``EVOLVE-BLOCK-START`` and ``EVOLVE-BLOCK-END`` markers
(OpenEvolve's convention, which ShinkaEvolve enforces). Code outside them is part of the harness (the function the
evaluator calls, the objective itself in some problems): a candidate that changes it is refused before it is
evaluated, and charged nothing."""

from __future__ import annotations

import re

START, END = "EVOLVE-BLOCK-START", "EVOLVE-BLOCK-END"
_MARK = re.compile(r"^.*(EVOLVE-BLOCK-START|EVOLVE-BLOCK-END).*$", re.M)


class BlockError(ValueError):
    """A candidate changed code outside the EVOLVE-BLOCK regions, or broke the markers."""


def regions(source: str) -> tuple[list[str], list[str]]:
    """(the text outside the blocks, piece by piece; the text inside them, block by block)."""
    outside, inside = [], []
    pos, open_at = 0, None
    for m in _MARK.finditer(source):
        if m.group(1) == START:
            if open_at is not None:
                raise BlockError(f"a second {START} before {END} (line {source.count(chr(10), 0, m.start()) + 1})")
            outside.append(source[pos:m.end()])
            open_at = m.end()
        else:
            if open_at is None:
                raise BlockError(f"{END} without {START} (line {source.count(chr(10), 0, m.start()) + 1})")
            inside.append(source[open_at:m.start()])
            pos, open_at = m.start(), None
    if open_at is not None:
        raise BlockError(f"{START} without {END}")
    outside.append(source[pos:])
    return outside, inside


def check(starter: str, candidate: str) -> None:
    """Raise ``BlockError`` (saying where) unless ``candidate`` differs from ``starter`` only inside the blocks."""
    base_out, base_in = regions(starter)
    if not base_in:
        return  # no markers: all of the file may change
    try:
        cand_out, cand_in = regions(candidate)
    except BlockError as exc:
        raise BlockError(f"the EVOLVE-BLOCK markers are broken: {exc}") from None
    if len(cand_in) != len(base_in):
        raise BlockError(f"the starter has {len(base_in)} EVOLVE-BLOCK region(s), the candidate {len(cand_in)}: keep "
                         "the markers and change only what is between them")
    for i, (a, b) in enumerate(zip(base_out, cand_out, strict=True)):
        if a.strip() != b.strip():
            where = "before the first block" if i == 0 else "after the last block" if i == len(base_out) - 1 else \
                f"between blocks {i} and {i + 1}"
            raise BlockError(f"the candidate changes code outside the EVOLVE-BLOCK regions ({where}); that code is "
                             "the harness's: change only what is between EVOLVE-BLOCK-START and EVOLVE-BLOCK-END")


def splice(starter: str, blocks: list[str]) -> str:
    """The starter with its block regions replaced by ``blocks`` (what a model that returns only the blocks means)."""
    outside, inside = regions(starter)
    if len(blocks) != len(inside):
        raise BlockError(f"{len(blocks)} block(s) given for {len(inside)} region(s)")
    out = [outside[0]]
    for body, rest in zip(blocks, outside[1:], strict=True):
        out.append(body if body.startswith("\n") else "\n" + body)
        out.append(rest if body.endswith("\n") or rest.startswith("\n") else "\n" + rest)
    return "".join(out)
