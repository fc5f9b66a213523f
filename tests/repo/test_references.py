"""The README and docs/ send a reader only to things inside the repository, and what the README's examples
write into a clone stays out of `git status`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    REPO_ROOT / "README.md",
    *sorted((REPO_ROOT / "docs").glob("*.md")),
    REPO_ROOT / "benchmarks/RESULTS.md",
]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    return {slug(line.lstrip("#")) for line in path.read_text().splitlines() if line.startswith("#")}


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_references_resolve_inside_the_repository(doc: Path) -> None:
    text = doc.read_text()
    assert not re.search(r"DESIGN §|issue \d+|shared/DESIGN", text), (
        "cite docs/design.md, not outside documents"
    )
    for target in LINK.findall(text):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (doc.parent / path).resolve() if path else doc
        assert resolved.exists(), f"{doc.name} links to {target}, which does not exist"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), f"{doc.name} links to {target}: no such heading"


def test_code_cites_design_sections_that_exist() -> None:
    sections = {line.lstrip("# ").strip() for line in (REPO_ROOT / "docs/design.md").read_text().splitlines()
                if line.startswith("## ")}  # fmt: skip
    cited = set()
    for source in REPO_ROOT.glob("[!.]*/**/*.py"):
        if ".venv" not in source.parts:
            cited |= set(re.findall(r'docs/design\.md,? \(?"([^"]+)"', source.read_text()))
    assert cited, "no code cites docs/design.md"
    assert cited <= sections, f"cited sections missing from docs/design.md: {sorted(cited - sections)}"


def test_what_the_readme_examples_write_is_ignored_by_git() -> None:
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    readme = (REPO_ROOT / "README.md").read_text()
    outputs = set(re.findall(r"--(?:out|parquet-out|repo) ([\w./-]+)", readme))
    relative = {out for out in outputs if not out.startswith(("/", ".")) and not re.search(r"[A-Z]", out)}
    assert {"data/world", "sheet.png", "emb.parquet", "runs/courier", "eval/none"} <= relative, relative
    for out in sorted(relative):
        probe = out if Path(out).suffix else f"{out.rstrip('/')}/file"
        ignored = subprocess.run(["git", "check-ignore", "-q", probe], cwd=REPO_ROOT, check=False)
        assert ignored.returncode == 0, f"README example output {out} is not in .gitignore"
