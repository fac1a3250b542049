"""A classification's hierarchy: codes, titles, levels and ancestors. Pure data, no store."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from statops.errors import InvalidInput

STRUCTURE_COLUMNS = ("code", "level", "title", "parent")


@dataclass(frozen=True)
class Hierarchy:
    """Codes with titles and parents. Without a structure, levels come from code prefixes."""

    titles: dict[str, str]
    parents: dict[str, str | None]
    level_of: dict[str, str]
    levels: tuple[str, ...]
    from_prefixes: bool = False
    _ancestors: dict[str, dict[str, str]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_structure(cls, frame: pd.DataFrame) -> Hierarchy:
        """Build from a `code, level, title, parent` table, checking it is a proper tree."""
        missing = [c for c in STRUCTURE_COLUMNS if c not in frame.columns]
        if missing:
            raise InvalidInput(
                f"classification structure lacks column(s) {', '.join(missing)}; "
                f"expected {', '.join(STRUCTURE_COLUMNS)}"
            )
        if frame.empty:
            raise InvalidInput("classification structure has no rows")
        frame = frame.fillna("")
        codes = [str(c).strip() for c in frame["code"]]
        if any(not c for c in codes):
            raise InvalidInput("classification structure has a row with an empty code")
        duplicates = sorted(code for code, n in Counter(codes).items() if n > 1)
        if duplicates:
            raise InvalidInput(f"classification structure repeats code(s): {', '.join(duplicates[:10])}")
        parents = {c: (str(p).strip() or None) for c, p in zip(codes, frame["parent"], strict=True)}
        orphans = sorted({p for p in parents.values() if p is not None and p not in parents})
        if orphans:
            raise InvalidInput(f"classification structure names unknown parent(s): {', '.join(orphans[:10])}")
        titles = {c: str(t).strip() for c, t in zip(codes, frame["title"], strict=True)}
        level_of = {c: str(lv).strip() for c, lv in zip(codes, frame["level"], strict=True)}
        unordered = cls(titles, parents, level_of, ())
        # Each level's depth is the fewest ancestors its codes have; walking them also finds cycles.
        depth: dict[str, int] = {}
        for code in codes:
            depth[level_of[code]] = min(depth.get(level_of[code], len(codes)), len(unordered.ancestors(code)))
        return replace(unordered, levels=tuple(sorted(depth, key=depth.__getitem__)))

    @classmethod
    def from_codes(cls, codes: list[str] | pd.Series) -> Hierarchy:
        """No structure: each code's levels are its prefixes (1 character, 2, ... its length)."""
        unique = sorted({str(c) for c in codes})
        longest = max((len(c) for c in unique), default=0)
        levels = tuple(f"prefix{n}" for n in range(1, longest + 1))
        return cls({c: "" for c in unique}, {c: None for c in unique},
                   {c: f"prefix{len(c)}" for c in unique}, levels, from_prefixes=True)

    @classmethod
    def flat(cls, titles: dict[str, str], level: str) -> Hierarchy:
        """One level of answers with titles and no parents (e.g. the addresses of a reference base)."""
        return cls(titles, dict.fromkeys(titles), dict.fromkeys(titles, level), (level,))

    @property
    def is_flat(self) -> bool:
        """One level and no parents: the answers themselves are the only level (a reference base's ids)."""
        return not self.from_prefixes and len(self.levels) == 1 and not any(self.parents.values())

    # -- queries -----------------------------------------------------------------------------
    def __contains__(self, code: object) -> bool:
        return code in self.titles

    @property
    def codes(self) -> list[str]:
        return list(self.titles)

    def title(self, code: str) -> str:
        return self.titles.get(code, "")

    def ancestors(self, code: str) -> dict[str, str]:
        """Level name -> the code's ancestor (or itself) at that level."""
        cached = self._ancestors.get(code)
        if cached is not None:
            return cached
        if self.from_prefixes:
            result = {f"prefix{n}": code[:n] for n in range(1, len(code) + 1)}
        else:
            result = {}
            current: str | None = code
            steps = 0
            while current is not None and current in self.parents:
                result[self.level_of[current]] = current
                current = self.parents[current]
                steps += 1
                if steps > len(self.parents):
                    raise InvalidInput(f"classification structure has a cycle through code {code}")
        self._ancestors[code] = result
        return result

    def at_level(self, codes: list[str] | pd.Series, level: str) -> list[str | None]:
        """Each code's ancestor at `level` (None where the code has none there or is unknown)."""
        return [self.ancestors(str(c)).get(level) for c in codes]

    def to_records(self) -> list[dict[str, Any]]:
        return [
            {"code": c, "level": self.level_of[c], "title": self.titles[c], "parent": self.parents[c]}
            for c in self.titles
        ]

    @classmethod
    def from_records(cls, records: list[dict[str, Any]], from_prefixes: bool = False) -> Hierarchy:
        if from_prefixes:
            return cls.from_codes([r["code"] for r in records])
        frame = pd.DataFrame(records, columns=list(STRUCTURE_COLUMNS), dtype=object)
        return cls.from_structure(frame)

