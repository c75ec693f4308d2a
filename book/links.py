"""The one setting behind every "Open in Colab" and Binder link: the repository's public URL.

Change REPOSITORY_URL (and BRANCH) here when the project moves; the book (book/build.py, the "Run
it" box of book/_ext/ntkbook.py), the first cell of every notebook (scripts/course_cells.py) and the
README's links section all take their links from these functions.  `make book BOOK_REPO=URL`
overrides it for one build of the book.
"""

from __future__ import annotations

from urllib.parse import quote

REPOSITORY_URL = "https://github.com/ntk-notebooks/ntk-notebooks"
BRANCH = "main"


def _slug(repo: str) -> str:
    repo = repo.strip().rstrip("/")
    if not repo.startswith("https://github.com/") or repo.count("/") != 4:
        raise ValueError(f"repo={repo!r}: expected https://github.com/OWNER/NAME")
    return repo[len("https://github.com/") :]


def colab_url(notebook: str, repo: str = REPOSITORY_URL, branch: str = BRANCH) -> str:
    """Colab's URL of notebooks/NOTEBOOK on GitHub.

    >>> colab_url("01_gp_init.ipynb", "https://github.com/a/b")
    'https://colab.research.google.com/github/a/b/blob/main/notebooks/01_gp_init.ipynb'
    """
    return (
        f"https://colab.research.google.com/github/{_slug(repo)}/blob/{quote(branch)}"
        f"/notebooks/{notebook}"
    )


def binder_url(notebook: str, repo: str = REPOSITORY_URL, branch: str = BRANCH) -> str:
    """mybinder.org's URL that opens notebooks/NOTEBOOK in JupyterLab (built from environment.yml).

    >>> binder_url("01_gp_init.ipynb", "https://github.com/a/b")
    'https://mybinder.org/v2/gh/a/b/main?urlpath=lab/tree/notebooks/01_gp_init.ipynb'
    """
    return (
        f"https://mybinder.org/v2/gh/{_slug(repo)}/{quote(branch)}"
        f"?urlpath=lab/tree/notebooks/{notebook}"
    )


COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"


def badges_markdown(notebook: str, repo: str = REPOSITORY_URL, branch: str = BRANCH) -> str:
    """One Markdown line with the two badges for notebooks/NOTEBOOK."""
    return (
        f"[![Open in Colab]({COLAB_BADGE})]({colab_url(notebook, repo, branch)}) "
        f"[![Binder]({BINDER_BADGE})]({binder_url(notebook, repo, branch)})"
    )


def install_command(repo: str = REPOSITORY_URL, branch: str = BRANCH) -> str:
    """pip's argument that installs ntklib from the repository (Colab has no clone)."""
    return f"git+{repo.strip().rstrip('/')}.git@{branch}"


README_BEGIN, README_END = (
    "<!-- course-links: scripts/course_cells.py --readme -->",
    "<!-- /course-links -->",
)


def readme_section(notebooks, repo: str = REPOSITORY_URL, branch: str = BRANCH) -> str:
    """The README's "Run without a clone" section: one line of badges per notebook."""
    rows = [f"| `{n}` | {badges_markdown(n, repo, branch)} |" for n in notebooks]
    return "\n".join(
        [
            README_BEGIN,
            "## Run without a clone",
            "",
            "Each notebook opens in Colab or on Binder; its first code cell installs ntklib "
            "when it is missing. The links come from one setting, REPOSITORY_URL in "
            "book/links.py (change it there, then run `python scripts/course_cells.py "
            "--readme` and `python scripts/course_cells.py`).",
            "",
            "| notebook | open |",
            "|---|---|",
            *rows,
            README_END,
        ]
    )
