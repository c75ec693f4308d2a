"""Citations and conventions sections of the ntk-notebooks text (no Sphinx, no docutils: the unit
tests import it).

* REFERENCES.md lists one work per entry, each starting with an anchor and a bold label that ends
  with the year, e.g. ``<a id="jacot2019b"></a>**Jacot, Gabriel and Hongler 2019b.**``.
  ``references(text)`` reads them.
* An author-year citation in running text ("Jacot et al. 2019b", "Jacot, Gabriel, Hongler 2018",
  "Yang and Littwin (2021", "Neal 1996"; a line break may fall inside it) is found by
  ``CITATION``; ``citation_key`` turns it into the anchor of its entry: first author's surname,
  lower case, and the year (``jacot2019b``).
* ``CONVENTION_REF`` finds "CONVENTIONS.md §1" (or §1.4), the way code and notebooks cite the
  conventions page; ``convention_sections(text)`` lists the numbered headings of CONVENTIONS.md.
"""

from __future__ import annotations

import re

SURNAME = r"[A-Z][a-zà-öø-ÿ]+(?:-[A-Z][a-zà-öø-ÿ]+)?"
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
CITATION = re.compile(
    rf"\b(?!(?:{MONTHS})\b)(?P<first>{SURNAME})"
    rf"(?P<others>\s+et\s+al\.|(?:(?:,?\s+and\s+|,\s+){SURNAME}){{1,3}})?"
    r",?\s+\(?(?P<year>(?:19|20)\d\d[ab]?)\b\)?"
)
ENTRY = re.compile(r'<a id="(?P<key>[a-z0-9-]+)"></a>\*\*(?P<label>[^*]+?)\.?\*\*')
CONVENTION_REF = re.compile(r"CONVENTIONS\.md(?:\s+§(?P<section>\d+(?:\.\d+)?))?")
SECTION_REF = re.compile(r"§(?P<section>\d+(?:\.\d+)?)")
HEADING = re.compile(r"^(?P<level>#{2,3}) (?P<number>\d+(?:\.\d+)?)\.? (?P<title>.+?)\s*$", re.M)


def citation_key(first: str, year: str) -> str:
    return f"{first.lower()}{year}"


def references(text: str) -> dict[str, str]:
    """{anchor: bold label} of every entry of REFERENCES.md."""
    return {m.group("key"): m.group("label").strip() for m in ENTRY.finditer(text)}


def citations(text: str):
    """(start, end, key) of every author-year citation in `text` (the citation text is
    text[start:end])."""
    for m in CITATION.finditer(text):
        end = m.end()
        if text[m.start() : end].endswith(")") and "(" not in text[m.start() : end]:
            end -= 1  # "(Neal 1996)": the closing parenthesis is not part of the link
        yield m.start(), end, citation_key(m.group("first"), m.group("year"))


def convention_sections(text: str) -> dict[str, str]:
    """{"1": "Network, parametrisation and kernels", "1.4": ..., ...} from the headings of
    CONVENTIONS.md."""
    return {m.group("number"): m.group("title") for m in HEADING.finditer(text)}
