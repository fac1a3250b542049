"""Address text normalisation, applied identically to the reference and to queries.

Upper case without accents; punctuation out; commas kept as segment breaks (the parser reads them);
abbreviations and synonyms to one form; number ranges to `12-14`; a lone suffix letter joined to
its number (`14 A` -> `14A`); postcodes in the canonical `OUT IN` spacing.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

MAX_CHARS = 400  # longer text is cut: no address is longer, and the parser's cost grows with length

# One form for each word written several ways. STREET and SAINT both become ST: the abbreviation
# is ambiguous and either side of a comparison may use it, so the short form is the common ground.
SYNONYMS: dict[str, str] = {
    "RD": "ROAD", "STREET": "ST", "SAINT": "ST", "STR": "ST", "AVE": "AVENUE", "AV": "AVENUE", "AVENU": "AVENUE",
    "LN": "LANE", "DR": "DRIVE", "DRV": "DRIVE", "CL": "CLOSE", "CRES": "CRESCENT", "CRESC": "CRESCENT",
    "CRS": "CRESCENT", "GDNS": "GARDENS", "GDN": "GARDEN", "GR": "GROVE", "GRO": "GROVE", "GRV": "GROVE",
    "TCE": "TERRACE", "TER": "TERRACE", "TERR": "TERRACE", "PL": "PLACE", "CT": "COURT", "CRT": "COURT",
    "SQ": "SQUARE", "MT": "MOUNT", "HSE": "HOUSE", "HO": "HOUSE", "COTTS": "COTTAGES", "COTT": "COTTAGE",
    "FM": "FARM", "BLDGS": "BUILDINGS", "BLDG": "BUILDING", "APTS": "APARTMENTS", "RES": "RESIDENCES",
    "UPR": "UPPER", "LWR": "LOWER", "1ST": "FIRST", "2ND": "SECOND", "3RD": "THIRD", "4TH": "FOURTH",
    "GRD": "GROUND", "GND": "GROUND", "FLR": "FLOOR", "FL": "FLOOR", "UNIV": "UNIVERSITY", "SCH": "SCHOOL",
    "CH": "CHURCH", "GRN": "GREEN", "PK": "PARK", "BR": "BRIDGE", "HL": "HALL", "MANC": "MANCHESTER",
    "PDE": "PARADE", "SQR": "SQUARE", "WLK": "WALK", "HTS": "HEIGHTS", "MWS": "MEWS", "EST": "ESTATE",
    "BVD": "BOULEVARD", "BLVD": "BOULEVARD", "CLS": "CLOSE", "GT": "GREAT", "LT": "LITTLE", "NTH": "NORTH",
    "STH": "SOUTH", "WY": "WAY", "VW": "VIEW", "CNR": "CORNER", "CTR": "CENTRE", "CENTER": "CENTRE",
    # the sub-building words: a flat is a flat however it is written
    "APARTMENT": "FLAT", "APT": "FLAT", "APPT": "FLAT", "FLT": "FLAT", "MAISONETTE": "FLAT", "MAIS": "FLAT",
}
SUB_BUILDING_WORDS = frozenset({"FLAT", "UNIT", "STUDIO", "SUITE", "ROOM", "BLOCK"})
STREET_WORDS = frozenset({
    "ROAD", "ST", "AVENUE", "LANE", "DRIVE", "CLOSE", "CRESCENT", "GARDENS", "GROVE", "TERRACE", "PLACE",
    "COURT", "SQUARE", "WAY", "WALK", "PARADE", "MEWS", "HILL", "RISE", "VIEW", "ROW", "GREEN", "PARK",
    "BOULEVARD", "VALE", "END", "GATE", "YARD", "WHARF", "MEADOW", "MEADOWS", "FIELDS", "CROFT",
})

_POSTCODE = re.compile(r"\b([A-Z]{1,2}[0-9][A-Z0-9]?)\s*([0-9][ABD-HJLNP-UW-Z]{2})\b")
_RANGE = re.compile(r"\b([0-9]+[A-Z]?)\s*(?:-|/|\bTO\b)\s*([0-9]+[A-Z]?)\b")
_SUFFIX = re.compile(r"\b([0-9]+)\s+([A-HJ-Z])\b(?!\s*-)")  # not I: a roman numeral or a pronoun more often
_NUMBER_WORD = re.compile(r"\b(?:NO|NUMBER)\s+(?=[0-9])")
_BREAKS = re.compile(r"[,;:()\[\]{}\n\r\t|]+")
_DROP = re.compile(r"['`\u2019.]")  # ST. JOHN'S -> ST JOHNS
_OTHER = re.compile(r"[^A-Z0-9,/\- ]+")
_LEADING_ZEROS = re.compile(r"\b0+([0-9])")
# A street word run into the name before it ("ACORNROAD"); the name must keep three letters.
_JOINED_STREET = re.compile(r"\b([A-Z]{3,}?)(ROAD|STREET|LANE|AVENUE|DRIVE|CLOSE|CRESCENT|GARDENS|TERRACE|GROVE|HOUSE"
                            r"|COURT|COTTAGE|LODGE|APARTMENTS)\b")
_WORD_HYPHEN = re.compile(r"(?<=[A-Z])-|-(?=[A-Z])")  # CEDAR-APARTMENTS; a range's hyphen sits between digits
_INWARD = re.compile(r"^[0-9][A-Z]{2}$")
_DIGIT = re.compile(r"[0-9]")  # normalised words hold ASCII digits only
_OUTWARD = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?$")


def fold(text: str) -> str:
    """Upper case without accents (compatibility-decomposed, combining marks dropped)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def canonical_postcode(text: str) -> str:
    """A UK postcode in `OUT IN` form, or "" when the text holds none."""
    match = _POSTCODE.search(fold(text))
    return f"{match.group(1)} {match.group(2)}" if match else ""


@lru_cache(maxsize=65536)
def normalise(text: str) -> str:
    """The canonical form of an address: tokens separated by spaces, segments by ", "."""
    text = fold(text[:MAX_CHARS]).replace("&", " AND ")
    text = _DROP.sub("", text)
    text = _BREAKS.sub(",", text)
    text = _OTHER.sub(" ", text)
    text = _POSTCODE.sub(r" \1 \2 ", text)
    text = _RANGE.sub(r"\1-\2", text)
    text = _SUFFIX.sub(r"\1\2", text)
    text = _NUMBER_WORD.sub("", text)
    text = _WORD_HYPHEN.sub(" ", text)
    text = text.replace("/", " ").replace(" -", " ").replace("- ", " ")
    text = _LEADING_ZEROS.sub(r"\1", text)
    text = _JOINED_STREET.sub(r"\1 \2", text)
    segments = []
    for segment in text.split(","):
        raw = [w for w in segment.split() if w.strip("-")]
        # a postcode's inward part ("3RD") is not an abbreviation
        words = [w if i and _INWARD.match(w) and _OUTWARD.match(raw[i - 1]) else SYNONYMS.get(w, w)
                 for i, w in enumerate(raw)]
        if words:
            segments.append(" ".join(words))
    return ", ".join(segments)


def tokens(normalised: str) -> tuple[list[str], list[int]]:
    """The words of a normalised address and the comma segment each is in."""
    words: list[str] = []
    segments: list[int] = []
    for index, segment in enumerate(normalised.split(", ")):
        for word in segment.split():
            words.append(word)
            segments.append(index)
    return words, segments


def words(normalised: str) -> list[str]:
    """The words of a normalised address, commas dropped."""
    return normalised.replace(",", " ").split()


@lru_cache(maxsize=1 << 17)  # the reference repeats its words: towns, streets, numbers
def has_digit(word: str) -> bool:
    """True when a normalised word holds a digit (a house, flat or range number, or part of a postcode)."""
    return _DIGIT.search(word) is not None
