"""Author and licence of each file of a Debian package, from its `usr/share/doc/PKG/copyright`.

Machine-readable (DEP-5) files are parsed paragraph by paragraph: a file takes the last `Files:`
paragraph whose pattern matches the end of its path (patterns name paths in the source tree, e.g.
`base/music/x.ogg`, which the package installs under some prefix). Free-form files get one package-wide
attribution from their "Upstream Authors" / "Copyright" / "©" lines and the licence they quote.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

UNKNOWN = "see the package's copyright file"
_EMAIL = re.compile(r"<[^>]*>|\S+@\S+")
_URL = re.compile(r"\((?:https?://|www\.)[^)]*\)|https?://\S+")
_LEAD = re.compile(r"^(?:copyright\b|\(c\)|©|[\s,:\-–]|\d{4}(?:\s*-\s*\d{4})?)+", re.I)


@dataclass(frozen=True)
class Attribution:
    """Who made a file and under which licence (short name, e.g. GPL-2+ or CC-BY-SA-3.0)."""

    author: str
    licence: str


@dataclass(frozen=True)
class FilesRule:
    """One DEP-5 `Files:` paragraph: its patterns and the attribution it gives."""

    patterns: tuple[str, ...]
    attribution: Attribution

    def matches(self, path: str) -> bool:
        parts = path.strip("/").split("/")
        tails = ["/".join(parts[i:]) for i in range(len(parts))]
        return any(fnmatch.fnmatchcase(t, p) for p in self.patterns for t in tails)


@dataclass(frozen=True)
class Copyright:
    """A package's attributions: per-file rules (DEP-5) and the package-wide fallback."""

    rules: tuple[FilesRule, ...]
    fallback: Attribution

    def attribute(self, path: str) -> Attribution:
        """The attribution of the file at `path` (any prefix: matched on its trailing components)."""
        found = [r for r in self.rules if r.matches(path)]
        return found[-1].attribution if found else self.fallback


def clean_names(lines: list[str]) -> str:
    """"2002-2014, The Team <a@b>" lines -> "The Team": years, ©, e-mail and web addresses dropped, no repeats."""
    names: list[str] = []
    for line in lines:
        name = _URL.sub("", _EMAIL.sub("", _LEAD.sub("", line.strip()))).strip(" ,;")
        name = re.sub(r"\s+", " ", name)
        if name and name.lower() not in (n.lower() for n in names):
            names.append(name)
    return ", ".join(names)


def paragraphs(text: str) -> list[dict[str, list[str]]]:
    """DEP-5 paragraphs as {field: [first line, continuation lines...]} (" ." continuation = blank)."""
    out: list[dict[str, list[str]]] = []
    for block in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, list[str]] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key].append("" if line.strip() == "." else line.strip())
            elif ":" in line and not line.startswith("#"):
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = [value.strip()]
        if fields:
            out.append(fields)
    return out


def _dep5(text: str) -> Copyright:
    rules: list[FilesRule] = []
    for para in paragraphs(text):
        if "files" not in para:
            continue
        patterns = tuple(p for line in para["files"] for p in line.split() if not p.startswith("debian/"))
        if not patterns:
            continue
        licence = (para.get("license") or [""])[0].strip() or UNKNOWN
        author = clean_names([x for x in para.get("copyright", []) if x]) or UNKNOWN
        rules.append(FilesRule(patterns, Attribution(author, licence)))
    wide = next((r.attribution for r in rules if "*" in r.patterns), Attribution(UNKNOWN, UNKNOWN))
    return Copyright(tuple(rules), wide)


def guess_licence(text: str) -> str:
    """Short name of the licence a free-form copyright file quotes (GPL, LGPL, CC), else UNKNOWN."""
    flat = re.sub(r"\s+", " ", text)
    low = flat.lower()
    if "creative commons" in low and "attribution" in low:
        kind = "CC-BY-SA" if "sharealike" in low.replace("-", "").replace(" ", "") else "CC-BY"
        version = re.search(r"Attribution(?:-ShareAlike)? (\d\.\d)", flat)
        return f"{kind}-{version.group(1)}" if version else kind
    gpl = re.search(r"GNU (Lesser |Library )?General Public License", flat, re.I)
    if gpl:
        name = "LGPL" if gpl.group(1) else "GPL"
        version = re.search(r"version (\d)", flat, re.I)
        later = "any later version" in low
        return f"{name}-{version.group(1)}{'+' if later else ''}" if version else name
    return UNKNOWN


def _free_form(text: str) -> Attribution:
    lines = text.splitlines()
    authors: list[str] = []
    for i, line in enumerate(lines):
        if re.match(r"\s*upstream authors?:", line, re.I):
            rest = line.split(":", 1)[1].strip()
            authors += [rest] if rest else []
            for follow in lines[i + 1:]:
                if not follow.strip() or not follow[:1].isspace():
                    break
                authors.append(follow)
    if not authors:
        authors = [line.split("©", 1)[1] if "©" in line else re.split(r"\(c\)", line, flags=re.I)[-1]
                   for line in lines if "©" in line or re.match(r"\s*copyright\s*\(c\)", line, re.I)]
    return Attribution(clean_names(authors) or UNKNOWN, guess_licence(text))


def parse_copyright(text: str) -> Copyright:
    """Attributions of a Debian copyright file, machine-readable or not."""
    if re.search(r"^Format:.*copyright-format", text, re.M):
        return _dep5(text)
    return Copyright((), _free_form(text))
