"""Sphinx extension of the ntk-notebooks book: notebook conventions rendered as call-outs.

A notebook stays plain Markdown (it reads the same in JupyterLab and on GitHub); the book
recognises:

* a paragraph that starts with bold ``**Learning goals.**`` (alone or inside a ``>`` quote)
  -> a "Learning goals" call-out (green, class ``learning-goals``);
* a ``>`` quote whose first word is bold ``**Erratum...**``
  (e.g. ``> **Erratum (slide "Freeze and Chaos").**``)
  -> an "Erratum" call-out titled by that bold text (orange, class ``erratum``);
* HTML ``<details><summary>Solution ...</summary>`` ... ``</details>`` in a Markdown cell -> a
  collapsed solution (MyST passes the raw HTML through; blank lines around the inner Markdown keep
  it Markdown).

Every notebook page also gets a "Run it" box under its title: ``make lab`` locally, and the "Open in
Colab" and Binder links built from book/links.py's REPOSITORY_URL
(``make book BOOK_REPO=https://github.com/OWNER/REPO`` overrides it for one build).

Links added to running text (not to code, formulas or headings), on every page including the API
reference:

* "CONVENTIONS.md §1" (or §1.4) -> the numbered section of the conventions page; "CONVENTIONS.md"
  alone -> the page; on the conventions page itself, "§3" -> that section;
* an author-year citation ("Jacot et al. 2019b", "Jacot, Gabriel, Hongler 2018", "Neal 1996") -> its
  entry on the references page, when REFERENCES.md has one (book/_ext/ntkrefs.py finds and keys
  them).
"""

import re
from pathlib import Path

from docutils import nodes

import ntkrefs

GOALS = re.compile(r"^\s*learning goals\b", re.I)
ERRATUM = re.compile(r"^\s*errat(um|a)\b", re.I)


def _lead_index(par):
    """Index of the paragraph's first child that is not blank text."""
    for i, child in enumerate(par.children):
        if not (isinstance(child, nodes.Text) and not child.astext().strip()):
            return i
    return None


def _lead_strong(par):
    """The text of a paragraph's leading bold run, or None."""
    if not isinstance(par, nodes.paragraph):
        return None
    i = _lead_index(par)
    if i is None or not isinstance(par.children[i], nodes.strong):
        return None
    return par.children[i].astext()


def _callout(title, body, classes):
    adm = nodes.admonition(classes=classes)
    adm += nodes.title(text=title)
    adm.extend(body)
    return adm


def _strip_lead(par):
    """The paragraph without its leading bold run (and the punctuation/space after it)."""
    par = par.deepcopy()
    for _ in range(_lead_index(par) + 1):
        par.remove(par.children[0])
    if par.children and isinstance(par.children[0], nodes.Text):
        rest = par.children[0].astext().lstrip(" .:\u2014-")
        par.replace(par.children[0], nodes.Text(rest))
    return par


def _title(text):
    return text.strip().rstrip(".:").strip()


def convert_callouts(app, doctree):
    for quote_ in list(doctree.findall(nodes.block_quote)):
        if not quote_.children:
            continue
        lead = _lead_strong(quote_.children[0])
        if lead and (ERRATUM.match(lead) or GOALS.match(lead)):
            kind = ("erratum", "warning") if ERRATUM.match(lead) else ("learning-goals", "tip")
            body = [_strip_lead(quote_.children[0])] + [c.deepcopy() for c in quote_.children[1:]]
            quote_.replace_self(_callout(_title(lead), body, list(kind)))
    for par in list(doctree.findall(nodes.paragraph)):
        lead = _lead_strong(par)
        if (
            lead
            and GOALS.match(lead)
            and not isinstance(par.parent, (nodes.admonition, nodes.list_item))
        ):
            par.replace_self(_callout(_title(lead), [_strip_lead(par)], ["learning-goals", "tip"]))


DOLLAR_MATH = re.compile(r"(?<![\\$])\$([^$\n]+?)\$(?!\$)")


def math_in_raw_html(app, doctree):
    """$...$ inside raw HTML (e.g. a <summary>) is left alone by MyST; mark it up for MathJax."""
    for raw in list(doctree.findall(nodes.raw)):
        if "html" not in raw.get("format", "").split() or "$" not in raw.astext():
            continue
        text = DOLLAR_MATH.sub(
            lambda m: f'<span class="math notranslate nohighlight">\\({m.group(1)}\\)</span>',
            raw.astext(),
        )
        raw.replace_self(nodes.raw(raw.rawsource, text, format="html"))


def add_run_box(app, doctree):
    docname = app.env.docname
    if not docname.startswith("notebooks/"):
        return
    name = docname.split("/", 1)[1]
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None or not section.children or not isinstance(section.children[0], nodes.title):
        return
    par = nodes.paragraph()
    par += nodes.strong(text="Run it: ")
    par += nodes.Text("locally, ")
    par += nodes.literal(text="make lab")
    par += nodes.Text(" opens JupyterLab on ")
    par += nodes.literal(text="notebooks/")
    par += nodes.Text("; open ")
    par += nodes.literal(text=f"{name}.ipynb")
    par += nodes.Text(" and run all cells (CI-scale parameters; ")
    par += nodes.literal(text=f"params/{name}.yml")
    par += nodes.Text(" holds the paper scale).")
    repo, branch = app.config.ntkbook_repository_url, app.config.ntkbook_branch
    if repo.startswith("https://github.com/"):
        import links  # book/links.py: the one setting behind every Colab and Binder link

        par += nodes.Text(" Online, without a clone: ")
        par += nodes.reference(
            "", "Open in Colab", refuri=links.colab_url(f"{name}.ipynb", repo, branch)
        )
        par += nodes.Text(" or ")
        par += nodes.reference(
            "", "launch on Binder", refuri=links.binder_url(f"{name}.ipynb", repo, branch)
        )
        par += nodes.Text(
            " (built from environment.yml); the notebook's first code cell installs ntklib"
            " when it is missing."
        )
    box = nodes.container(classes=["ntk-run"])
    box += par
    section.insert(1, box)


# --- docstrings: ntklib writes plain text (formulas such as |x|, a*b, x_ and indented equation
# lines); make it safe reStructuredText before napoleon turns the Google sections (Args:, Returns:,
# Example:) into fields.

SECTION = re.compile(
    r"^(\s*)(Args|Arguments|Parameters|Keyword Args|Keyword Arguments|Other Parameters|"
    r"Returns?|Yields?|Raises|Attributes|Examples?|Notes?|Warnings?|See Also|References|"
    r"Methods|Todo)\s*:\s*$"
)
LIST_ITEM = re.compile(r"^(\s*)([-*+]|\d+[.)])\s+")


def _indent(line):
    return len(line) - len(line.lstrip())


def _escape_text(text):
    text = text.replace("\\", "\\\\").replace("*", "\\*").replace("|", "\\|").replace("`", "\\`")
    return re.sub(r"(?<=\w)_(?=[\s.,;:)\]}]|$)", r"\\_", text)


def _escape(line):
    """Plain text -> reStructuredText that shows the same characters; `code` becomes ``code``."""
    item = LIST_ITEM.match(line)
    lead = item.group(0) if item else ""
    parts = re.split(r"(?<!`)`([^`]+)`(?!`)", line[len(lead) :])
    out = lead + "".join(f"``{p}``" if k % 2 else _escape_text(p) for k, p in enumerate(parts))
    return re.sub(r"^(\s*)\.\. ", r"\1\\.. ", out)


def plain_docstring_to_rst(lines):
    """Escape inline markup, keep indented formula blocks and doctests verbatim (literal blocks)."""
    out, i, n = [], 0, len(lines)

    def blank_before():
        if out and out[-1].strip():
            out.append("")

    while i < n:
        line = lines[i]
        m = SECTION.match(line)
        if m:
            base, doctest = _indent(line), False
            out.append(line)
            i += 1
            while i < n and (not lines[i].strip() or _indent(lines[i]) > base):
                cur = lines[i]
                if not cur.strip():
                    doctest = False
                elif cur.lstrip().startswith(">>>"):
                    doctest = True
                out.append(cur if doctest else _escape(cur))
                i += 1
            continue
        if line.lstrip().startswith(">>>"):
            blank_before()
            while i < n and lines[i].strip():
                out.append(lines[i])
                i += 1
            out.append("")
            continue
        j = i + 1
        while j < n and not lines[j].strip():
            j += 1
        item = LIST_ITEM.match(line)
        continuation = item and j < n and _indent(lines[j]) == len(item.group(0))
        base = (
            len(item.group(0)) if item else _indent(line)
        )  # a list item's text sets its indentation
        if line.strip() and j < n and _indent(lines[j]) > base and not continuation:
            text = _escape(line).rstrip()
            out.append(
                text[:-1] + "::" if text.endswith(":") and not text.endswith("::") else text + " ::"
            )
            out.append("")
            i += 1
            while i < n and (not lines[i].strip() or _indent(lines[i]) > base):
                out.append(lines[i])
                i += 1
            blank_before()
            continue
        out.append(_escape(line))
        i += 1
    return out


def process_docstring(app, what, name, obj, options, lines):
    if name.startswith("ntklib"):
        lines[:] = plain_docstring_to_rst(list(lines))


# --- links in running text: the conventions' sections and the references -------------------------

CONVENTIONS_DOC, REFERENCES_DOC = "CONVENTIONS", "REFERENCES"
NO_LINK_INSIDE = (
    nodes.reference,
    nodes.literal,
    nodes.literal_block,
    nodes.raw,
    nodes.math,
    nodes.math_block,
    nodes.title,
    nodes.FixedTextElement,
    nodes.target,
)


def note_shared_sources(app, doctree):
    """Every page links into CONVENTIONS.md and REFERENCES.md: re-read it when either changes."""
    for name in ("CONVENTIONS.md", "REFERENCES.md"):
        path = Path(app.srcdir) / name
        if path.exists():
            app.env.note_dependency(str(path))


def _link_targets(app):
    """({"1": section id, "1.4": ...}, {reference key, ...}), read once per build."""
    cache = getattr(app, "_ntkbook_targets", None)
    if cache is None:
        sections, keys = {}, set()
        if CONVENTIONS_DOC in app.env.found_docs:
            tree = app.env.get_doctree(CONVENTIONS_DOC)
            for sec in tree.findall(nodes.section):
                title = sec.next_node(nodes.title)
                m = re.match(r"(\d+(?:\.\d+)?)\.?\s", title.astext() if title else "")
                if m and sec["ids"] and m.group(1) not in sections:
                    sections[m.group(1)] = sec["ids"][0]
        refs = Path(app.srcdir) / "REFERENCES.md"
        if REFERENCES_DOC in app.env.found_docs and refs.exists():
            keys = set(ntkrefs.references(refs.read_text(encoding="utf-8")))
        cache = app._ntkbook_targets = (sections, keys)
    return cache


def _matches(text, docname, sections, keys):
    """(start, end, target docname, anchor) of every link to make in `text`."""
    found = []
    if sections:
        for m in ntkrefs.CONVENTION_REF.finditer(text):
            sec = m.group("section")
            found.append(
                (m.start(), m.end(), CONVENTIONS_DOC, sections.get(sec, "") if sec else "")
            )
        if docname == CONVENTIONS_DOC:
            for m in ntkrefs.SECTION_REF.finditer(text):
                if m.group("section") in sections:
                    found.append(
                        (m.start(), m.end(), CONVENTIONS_DOC, sections[m.group("section")])
                    )
    if keys and docname != REFERENCES_DOC:
        found += [
            (a, b, REFERENCES_DOC, key) for a, b, key in ntkrefs.citations(text) if key in keys
        ]
    found.sort()
    out, last = [], 0
    for a, b, doc, anchor in found:  # drop overlaps ("CONVENTIONS.md §1" also contains "§1")
        if a >= last:
            out.append((a, b, doc, anchor))
            last = b
    return out


def link_running_text(app, doctree, docname):
    sections, keys = _link_targets(app)
    if not sections and not keys:
        return
    for text in list(doctree.findall(nodes.Text)):
        parent = text.parent
        if parent is None or any(isinstance(a, NO_LINK_INSIDE) for a in _ancestors(text)):
            continue
        value = text.astext()
        if (
            "CONVENTIONS.md" not in value
            and "§" not in value
            and not any(c.isdigit() for c in value)
        ):
            continue
        links = _matches(value, docname, sections, keys)
        if not links:
            continue
        new, pos = [], 0
        for a, b, doc, anchor in links:
            if a > pos:
                new.append(nodes.Text(value[pos:a]))
            uri = "" if doc == docname else app.builder.get_relative_uri(docname, doc)
            ref = nodes.reference(
                "",
                "",
                nodes.Text(value[a:b]),
                refuri=uri + (f"#{anchor}" if anchor else ""),
                internal=True,
                classes=["ntk-xref"],
            )
            new.append(ref)
            pos = b
        if pos < len(value):
            new.append(nodes.Text(value[pos:]))
        index = parent.index(text)
        parent.remove(text)
        for k, node in enumerate(new):
            parent.insert(index + k, node)


def _ancestors(node):
    node = node.parent
    while node is not None:
        yield node
        node = node.parent


def setup(app):
    app.connect("autodoc-process-docstring", process_docstring, priority=400)
    app.add_config_value("ntkbook_repository_url", "", "html")
    app.add_config_value("ntkbook_branch", "main", "html")
    app.add_config_value("ntkbook_fingerprint", "", "env")
    app.connect("doctree-read", convert_callouts)
    app.connect("doctree-read", add_run_box)
    app.connect("doctree-read", math_in_raw_html)
    app.connect("doctree-read", note_shared_sources)
    app.connect("doctree-resolved", link_running_text)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
