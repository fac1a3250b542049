from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from statops import Conflict, InvalidInput, NotFound, Workspace
from statops.classifications import Hierarchy, add_classification, get_classification, list_classifications


def test_soc2010_structure_gives_titles_levels_and_valid_codes(workspace: Workspace, soc) -> None:  # noqa: ANN001
    info = add_classification(workspace, "soc2010", soc.structure, version="2010")
    assert info.created and info.codes == 493
    assert info.levels == ["major", "submajor", "minor", "unit"]
    h = get_classification(workspace, "soc2010").hierarchy
    assert h.title("2421") == "Chartered and certified accountants"
    assert h.ancestors("2421") == {"unit": "2421", "minor": "242", "submajor": "24", "major": "2"}
    assert "2421" in h and "9999" not in h
    again = add_classification(workspace, "soc2010", soc.structure, version="2010")
    assert not again.created and again.version == "2010"
    assert [r["name"] for r in list_classifications(workspace)] == ["soc2010"]


def test_same_version_with_other_content_is_a_conflict(workspace: Workspace, soc, tmp_path: Path) -> None:  # noqa: ANN001
    add_classification(workspace, "soc2010", soc.structure, version="2010")
    changed = pd.read_csv(soc.structure, dtype=str, keep_default_na=False)
    changed.loc[0, "title"] = "Changed"
    changed.to_csv(tmp_path / "changed.csv", index=False)
    with pytest.raises(Conflict, match="already exists"):
        add_classification(workspace, "soc2010", tmp_path / "changed.csv", version="2010")
    assert add_classification(workspace, "soc2010", tmp_path / "changed.csv").version == "2011"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("code,level,title\n1,major,A\n", "lacks column"),
        ("code,level,title,parent\n1,major,A,\n11,sub,B,9\n", "unknown parent"),
        ("code,level,title,parent\n1,major,A,2\n2,major,B,1\n", "cycle"),
        ("code,level,title,parent\n1,major,A,\n1,major,B,\n", "repeats"),
    ],
)
def test_bad_structures_are_refused_and_nothing_is_stored(workspace: Workspace, tmp_path: Path, rows: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(rows)
    with pytest.raises(InvalidInput, match=message):
        add_classification(workspace, "bad", path)
    with pytest.raises(NotFound):
        get_classification(workspace, "bad")


def test_without_structure_levels_come_from_code_prefixes_and_codes_stay_text() -> None:
    h = Hierarchy.from_codes(["01139", "0113", "113"])
    assert h.levels == ("prefix1", "prefix2", "prefix3", "prefix4", "prefix5")
    assert h.ancestors("01139")["prefix4"] == "0113"
    assert "0113" in h and "113" in h and "1139" not in h
    assert h.at_level(["0113", "113"], "prefix1") == ["0", "1"]
