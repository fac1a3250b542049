"""Build the address-matching test bed of issue 15: a synthetic reference base and messy queries.

    python benchmarks/address_testbed.py                      # full bed in /work/addr-testbed (not committed)
    python benchmarks/address_testbed.py --small              # the demo copy in src/statops/demo_data/addresses/
    python benchmarks/address_testbed.py --seed 7 --out /tmp/bed --reference-size 20000

What it makes (format: /work/addr_contract.md):

* ``reference.csv.gz``: a gazetteer-like base, UPPER case, 12-digit text ids. Generated with Faker ``en_GB``
  names: towns with localities and outlying villages, street names drawn from one limited pool so that most
  names recur in several towns, numbered houses (with suffixes such as 12A and ranges such as 12-14), named
  houses, houses converted into flats, purpose-built blocks of flats (FLAT 3, FLAT 14A, APARTMENT 5), business
  units with organisations, and the parent record of every building that holds flats (as AddressBase does).
  Postcodes: a street segment sits in one postcode sector; its units (about 15 addresses each in towns, 3-5 in
  villages) belong to that segment only.
* ``train/dev/test.csv.gz``: ``text, id, style``. Each query is one reference address written down by
  ``address-errors`` 0.1.1 (Joseph Lam, MIT): the recording errors and house styles learned from five councils'
  records, plus a share with heavier extra noise (typos, abbreviations, dropped, swapped and joined words).
  About 10% of each split are addresses that exist but are NOT in the reference (id ""): they were generated
  with the rest and held out, so they are near misses (a missing house number or flat on a real street, a
  house 12A where only 12 is listed, a whole street of a name that other towns have).

For the matchers: a query's id is the address its text describes (address-errors' source_uprn). Under label
drift that is a neighbour's or the parent's id; where an edit made the text equal another address (a dropped flat
number leaves the building's own address, a parent row in the reference) the id stays the original: such
queries (under 1%, counted in the summary) cannot be matched and belong to the "review" side. Parent rows are
never targets of their own. `style` names the source: a council house style (wigan, bradford, leeds, derby,
cornwall), pooled rates of an unseen council (pooled, pooled-high at the top of the intensity band), and
`<style>+typos` with the extra noise.

The same seed gives byte-identical files (gzip with mtime 0, no file name in the header) with the same Faker
(40.63) and address-errors (0.1.1); a build of the full bed takes about two to four minutes on two cores.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import math
import random
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path("/work/addr-testbed")
DEMO_OUT = REPO / "src" / "statops" / "demo_data" / "addresses"

REFERENCE_COLUMNS = (
    "id", "organisation", "sub_building", "building_name", "building_number", "street", "locality", "town",
    "postcode",
)
QUERY_COLUMNS = ("text", "id", "style")

ATTRIBUTION = """\
Address matching demo data (statops issue 15)

These files are synthetic: no real addresses, people or properties.

- reference.csv.gz: invented addresses generated with Faker (MIT licence, https://github.com/joke2k/faker),
  locale en_GB, by benchmarks/address_testbed.py.
- train.csv.gz, dev.csv.gz, test.csv.gz: the same invented addresses with recording errors made by
  address-errors 0.1.1 (MIT licence, Joseph Lam, https://github.com/Jo-Lam/address-errors). Its bundled error
  profiles hold aggregated rates only (learned from council records published under the Open Government Licence
  v3.0); no address text from them is used here.

Rebuild: python benchmarks/address_testbed.py --small --seed {seed}
"""

# --------------------------------------------------------------------------- vocabulary
# British street-name pool. The classic names lead the draw weights, so that (as in the real country) HIGH STREET
# or STATION ROAD occur in most towns; the generated names fill the long tail.
CLASSIC_STREETS = (
    "HIGH STREET", "STATION ROAD", "CHURCH ROAD", "CHURCH STREET", "MAIN STREET", "PARK ROAD", "VICTORIA ROAD",
    "GREEN LANE", "MANOR ROAD", "CHURCH LANE", "PARK AVENUE", "THE AVENUE", "THE CRESCENT", "QUEENS ROAD",
    "NEW ROAD", "GRANGE ROAD", "KINGS ROAD", "ALEXANDRA ROAD", "MILL LANE", "SCHOOL LANE", "NORTH STREET",
    "SOUTH STREET", "WEST STREET", "EAST STREET", "THE GREEN", "STATION STREET", "MARKET STREET", "MILL ROAD",
    "LONDON ROAD", "YORK ROAD", "ALBERT ROAD", "GEORGE STREET", "KING STREET", "QUEEN STREET", "BRIDGE STREET",
    "WATER LANE", "MEADOW WAY", "THE CLOSE", "ORCHARD CLOSE", "CHAPEL LANE", "CHAPEL STREET", "SPRINGFIELD ROAD",
    "WINDSOR ROAD", "ST JOHNS ROAD", "ST MARYS ROAD", "GROVE ROAD", "HILL STREET", "BACK LANE", "FOREST ROAD",
    "RECTORY LANE", "CASTLE STREET", "MOUNT PLEASANT", "HIGHFIELD ROAD", "BROOK STREET", "WESTFIELD ROAD",
    "NORFOLK ROAD", "RAILWAY TERRACE", "CROSS STREET", "PARK LANE", "ELM GROVE", "BEECH AVENUE", "OAK AVENUE",
    "ASH GROVE", "WILLOW CLOSE", "THE DRIVE", "CHESTNUT CLOSE", "STANLEY ROAD", "CEMETERY ROAD", "WELLINGTON ROAD",
)
STREET_SUFFIXES = (
    ("ROAD", 30), ("STREET", 18), ("LANE", 12), ("AVENUE", 8), ("CLOSE", 10), ("DRIVE", 7), ("WAY", 5),
    ("GARDENS", 5), ("CRESCENT", 4), ("GROVE", 4), ("PLACE", 3), ("TERRACE", 3), ("VIEW", 2), ("RISE", 2),
    ("WALK", 2), ("MEWS", 1), ("SQUARE", 1), ("PARADE", 1), ("ROW", 1), ("HILL", 1),
)
TREES = ("OAK", "ASH", "BIRCH", "ELM", "WILLOW", "HAWTHORN", "ROWAN", "BEECH", "CHESTNUT", "SYCAMORE", "LARCH",
         "HAZEL", "HOLLY", "MAPLE", "LIME", "CEDAR", "ALDER", "YEW", "POPLAR", "CHERRY")
FLOWERS = ("ROSE", "LILAC", "IVY", "HEATHER", "PRIMROSE", "BLUEBELL", "LAVENDER", "JASMINE", "HONEYSUCKLE", "BRAMBLE")
TOWN_SUFFIXES = ("TON", "BURY", "FORD", "HAM", "LEY", "BY", "WICK", "FIELD", "BRIDGE", "WORTH", "STOKE", "MOUTH",
                 "CHESTER", "THORPE", "STEAD", "COMBE", "DALE", "MINSTER", "HOLME", "WELL")
TOWN_PREFIXES = ("GREAT ", "LITTLE ", "NORTH ", "SOUTH ", "EAST ", "WEST ", "UPPER ", "LOWER ", "MARKET ", "OLD ")
LOCALITY_SUFFIXES = ("GREEN", "HILL", "PARK", "END", "HEATH", "VALE", "WOOD", "CROSS", "BANK", "MOOR", "COMMON",
                     "BROOK", "FIELDS", "GATE")
BLOCK_WORDS = (("HOUSE", 30), ("COURT", 35), ("LODGE", 6), ("MANSIONS", 3), ("POINT", 3), ("TOWER", 2),
               ("HALL", 4), ("PLACE", 4), ("APARTMENTS", 5), ("WHARF", 2), ("GATE", 2), ("HEIGHTS", 3))
HOUSE_NAMES = ("ROSE COTTAGE", "IVY COTTAGE", "THE OLD RECTORY", "THE OLD VICARAGE", "THE BUNGALOW", "THE COTTAGE",
               "THE LODGE", "THE COACH HOUSE", "THE BARN", "THE OLD SCHOOL", "THE OLD FORGE", "THE OLD POST OFFICE",
               "HILLSIDE", "MEADOW VIEW", "ORCHARD HOUSE", "BRAMBLE COTTAGE", "WILLOW COTTAGE", "HONEYSUCKLE COTTAGE",
               "THE STABLES", "FIELD VIEW", "BROOKSIDE", "SUNNYSIDE", "WOODLANDS", "THE GRANARY", "CHURCH COTTAGE",
               "MILL HOUSE", "THE HOLLIES", "FERN COTTAGE", "APPLE TREE COTTAGE", "THE LAURELS", "GREENACRES",
               "SPRINGFIELD", "FAIRVIEW", "THE ELMS", "LILAC COTTAGE", "PEAR TREE COTTAGE", "OAKLANDS", "LYNDHURST",
               "WHITE COTTAGE", "FOLLY COTTAGE")
BUSINESS_SITES = ("BUSINESS PARK", "TRADING ESTATE", "ENTERPRISE CENTRE", "INDUSTRIAL ESTATE", "BUSINESS CENTRE")
# postcode unit letters as Royal Mail uses them (no C, I, K, M, O, V in the inward code)
UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
ROMAN_FLOORS = ("GROUND FLOOR FLAT", "FIRST FLOOR FLAT", "SECOND FLOOR FLAT", "TOP FLOOR FLAT")


@dataclass(frozen=True)
class StyleConfig:
    """One recording source: an address-errors house style (None = pooled rates of an unseen council) with its
    controls. `weight` is its share of the queries; `noise` adds the heavier typos beyond what councils make."""

    name: str
    style: str | None
    weight: float
    rates: str = "council"
    intensity: float | None = None
    noise: bool = False


# Five council house styles of the bundled all6 profile, an unseen council at pooled rates (and at the top of the
# profile's intensity band), and five sources with extra noise: about a quarter of the queries.
STYLE_CONFIGS = (
    StyleConfig("wigan", "wigan", 0.12),
    StyleConfig("bradford", "bradford", 0.12),
    StyleConfig("leeds", "leeds", 0.12),
    StyleConfig("derby", "derby", 0.12),
    StyleConfig("cornwall", "cornwall", 0.12),
    StyleConfig("pooled", None, 0.10, rates="pooled"),
    StyleConfig("pooled-high", None, 0.05, rates="pooled", intensity=1.44),
    StyleConfig("wigan+typos", "wigan", 0.05, noise=True),
    StyleConfig("leeds+typos", "leeds", 0.05, noise=True),
    StyleConfig("derby+typos", "derby", 0.05, noise=True),
    StyleConfig("cornwall+typos", "cornwall", 0.05, noise=True),
    StyleConfig("pooled+typos", None, 0.05, rates="pooled", noise=True),
)


@dataclass
class Sizes:
    reference: int
    train: int
    dev: int
    test: int
    out_share: float = 0.10


@dataclass
class Address:
    """One gazetteer record, with the internal fields address-errors needs (parent, street id, floor, place)."""

    id: str
    organisation: str
    sub_building: str
    building_name: str
    building_number: str
    street: str
    locality: str
    town: str
    postcode: str
    kind: str  # house, flat, parent, org
    parent: str = ""
    usrn: str = ""
    floor: str = ""
    easting: int = 0
    northing: int = 0


@dataclass
class Street:
    usrn: str
    name: str
    town: str
    locality: str
    rural: bool
    addresses: list[Address] = field(default_factory=list)


# --------------------------------------------------------------------------- the reference base
class Gazetteer:
    """Generates the universe of addresses (reference plus the ones held out of it), deterministic for a seed."""

    def __init__(self, seed: int, target: int) -> None:
        from faker import Faker

        self.rng = random.Random(f"gazetteer|{seed}")
        self.fake = Faker("en_GB")
        self.fake.seed_instance(seed)
        self.target = target
        self.ids = IdMaker(seed)
        self.streets: list[Street] = []
        self.addresses: list[Address] = []
        self._usrn = 0
        surnames = sorted({self.fake.last_name().upper() for _ in range(4000)})
        self.surnames = [s for s in surnames if re.fullmatch(r"[A-Z]+", s)]
        firsts = sorted({self.fake.first_name().upper() for _ in range(2000)})
        self.first_names = [s for s in firsts if re.fullmatch(r"[A-Z]+", s)]
        n_segments = max(60, target // 28)
        self.street_pool, self.street_weights = self._street_pool(n_segments)
        self.districts_used: set[str] = set()

    # ---- names
    def _street_pool(self, n_segments: int) -> tuple[list[str], list[float]]:
        """A limited pool of street names with Zipf weights: about one name per five segments, so most names are
        shared by several towns while a big town still finds enough distinct names."""
        size = max(len(CLASSIC_STREETS) + 20, n_segments // 5)
        names = list(CLASSIC_STREETS)
        seen = set(names)
        suffixes, weights = zip(*STREET_SUFFIXES, strict=True)
        while len(names) < size:
            r = self.rng.random()
            stem = (self.rng.choice(self.surnames) if r < 0.6 else self.rng.choice(self.first_names) if r < 0.75
                    else self.rng.choice(TREES) if r < 0.9 else self.rng.choice(FLOWERS))
            name = f"{stem} {self.rng.choices(suffixes, weights)[0]}"
            if name not in seen:
                seen.add(name)
                names.append(name)
        return names, [1.0 / (rank + 8) ** 0.9 for rank in range(len(names))]

    def _town_name(self, used: set[str]) -> str:
        while True:
            stem = self.rng.choice(self.surnames)
            stem = stem[:-1] if stem.endswith("S") and self.rng.random() < 0.5 else stem
            name = stem + self.rng.choice(TOWN_SUFFIXES)
            if self.rng.random() < 0.12:
                name = self.rng.choice(TOWN_PREFIXES) + name
            if name not in used and len(name) <= 22:
                used.add(name)
                return name

    def _district(self, area: str | None = None) -> str:
        """An outward code unused so far; Faker's en_GB postcodes give the areas (MK, NR, PE...)."""
        while True:
            out = self.fake.postcode().split()[0].upper()
            if area is not None:
                digits = re.sub(r"^[A-Z]+", "", out)
                out = area + digits
            # Faker also makes forms Royal Mail does not use (BN05, KW6N): keep area letters + 1-99
            if re.fullmatch(r"[A-Z]{1,2}[1-9]\d?", out) and out not in self.districts_used:
                self.districts_used.add(out)
                return out

    # ---- the whole universe
    def build(self) -> list[Address]:
        n_towns = max(12, round(self.target / 1600))
        raw = [1.0 / (i + 1.5) ** 0.75 for i in range(n_towns)]
        sizes = [max(150, int(self.target * w / sum(raw))) for w in raw]
        used_names: set[str] = set()
        for size in sizes:
            self._town(self._town_name(used_names), size, used_names)
        return self.addresses

    def _town(self, town: str, size: int, used_names: set[str]) -> None:
        rng = self.rng
        area_code = re.sub(r"\d.*", "", self._district())
        districts = [self._district(area_code) for _ in range(1 + size // 3500)]
        n_localities = size // 900
        localities = sorted({f"{rng.choice(self.surnames)} {rng.choice(LOCALITY_SUFFIXES)}"
                             for _ in range(n_localities)})
        villages = [self._town_name(used_names) for _ in range(rng.randint(1, 2 + size // 3000))]
        cx, cy = rng.randrange(100_000, 600_000), rng.randrange(100_000, 900_000)
        count = 0
        used_streets: set[tuple[str, str]] = set()
        sectors: dict[str, dict[str, set[str]]] = {d: defaultdict(set) for d in districts}
        # villages: rural lanes of named houses with small postcodes (address-errors' rural stratum)
        village_share = 0.10
        while count < size:
            rural = rng.random() < village_share
            if rural:
                locality = rng.choice(villages)
            else:
                locality = rng.choice(localities) if localities and rng.random() < 0.75 else ""
            name = self._street_name(locality if rural else "", used_streets)
            self._usrn += 1
            street = Street(f"{self._usrn:07d}", name, town, locality, rural)
            district = rng.choice(districts)
            sector = self._sector(sectors[district])
            x, y = cx + rng.randint(-2500, 2500), cy + rng.randint(-2500, 2500)
            if rural:
                self._village_lane(street, x, y)
            else:
                self._urban_street(street, x, y)
            self._postcodes(street, district, sector, sectors[district])
            self.streets.append(street)
            self.addresses.extend(street.addresses)
            count += len(street.addresses)

    def _street_name(self, village: str, used: set[tuple[str, str]]) -> str:
        """Unique within the town's urban area. A village lane (the village is a locality of the post town) mostly
        avoids the town's names too, but one in five may repeat one: CHURCH LANE, <VILLAGE>, <TOWN> beside
        CHURCH LANE, <TOWN>, told apart only by the locality and the postcode, as in real post towns."""
        anywhere = not village or self.rng.random() < 0.8
        taken = {n for _, n in used} if anywhere else {n for v, n in used if v == village}
        for _ in range(200):
            name = self.rng.choices(self.street_pool, self.street_weights)[0]
            if name not in taken:
                used.add((village, name))
                return name
        name = f"{self.rng.choice(self.surnames)} {self.rng.choice(('ROAD', 'CLOSE', 'WAY'))}"
        used.add((village, name))
        return name

    def _sector(self, used: dict[str, set[str]]) -> str:
        free = [s for s in "0123456789" if len(used[s]) < 300]
        return self.rng.choice(free or list("0123456789"))

    def _postcodes(self, street: Street, district: str, sector: str, used: dict[str, set[str]]) -> None:
        """Units of about 15 addresses in towns (3-5 in villages), never shared with another street segment; a
        building's flats keep one postcode."""
        rng = self.rng
        per_unit = (3, 5) if street.rural else (8, 22)
        groups: list[list[Address]] = []
        for a in street.addresses:
            key = a.parent or a.id
            if groups and (groups[-1][0].parent or groups[-1][0].id) == key:
                groups[-1].append(a)
            elif groups and a.kind == "flat" and groups[-1][-1].id == a.parent:
                groups[-1].append(a)
            else:
                groups.append([a])
        unit: str | None = None
        left = 0
        for group in groups:
            if unit is None or left <= 0:
                unit = self._unit(sector, used)
                left = rng.randint(*per_unit)
            for a in group:
                a.postcode = f"{district} {sector}{unit}"
            left -= len(group)

    def _unit(self, sector: str, used: dict[str, set[str]]) -> str:
        while True:
            unit = self.rng.choice(UNIT_LETTERS) + self.rng.choice(UNIT_LETTERS)
            if unit not in used[sector] or len(used[sector]) >= 400:
                used[sector].add(unit)
                return unit

    # ---- streets
    def _add(self, street: Street, x: int, y: int, **kw: str) -> Address:
        a = Address(id=self.ids.next(), street=street.name, locality=street.locality, town=street.town, postcode="",
                    usrn=street.usrn, easting=x, northing=y, **{k: kw.get(k, "") for k in (
                        "organisation", "sub_building", "building_name", "building_number")},
                    kind=kw.get("kind", "house"), parent=kw.get("parent", ""), floor=kw.get("floor", ""))
        street.addresses.append(a)
        return a

    def _urban_street(self, street: Street, x: int, y: int) -> None:
        rng = self.rng
        kind = rng.choices(("terrace", "close", "flats", "business"), (60, 28, 10, 2))[0]
        n = {"terrace": rng.randint(8, 56), "close": rng.randint(4, 24), "flats": rng.randint(3, 12),
             "business": rng.randint(3, 10)}[kind]
        p_block = {"terrace": 0.025, "close": 0.02, "flats": 0.35, "business": 0.0}[kind]
        p_convert = {"terrace": 0.12, "close": 0.03, "flats": 0.10, "business": 0.0}[kind]
        names: set[str] = set()
        skip: set[int] = set()
        dx, dy = rng.choice((1, 0, -1)), rng.choice((1, -1))
        for number in range(1, n + 1):
            if number in skip:
                continue
            if rng.random() < 0.03:  # gaps in the numbering (demolished, never built, no 13)
                continue
            px, py = x + dx * number * 6, y + dy * number * 4
            if kind == "business":
                self._business(street, str(number), px, py, names)
                continue
            r = rng.random()
            if r < p_block:
                self._block(street, str(number) if rng.random() < 0.6 else "", px, py, names)
            elif r < p_block + p_convert:
                self._converted(street, str(number), px, py)
            elif r < p_block + p_convert + 0.008 and number + 2 <= n:
                self._add(street, px, py, building_number=f"{number}-{number + 2}")  # two plots knocked into one
                skip.add(number + 2)
            elif r < p_block + p_convert + 0.014:
                self._add(street, px, py, organisation=self._company(), building_number=str(number), kind="org")
            else:
                name = self._house_name(names) if rng.random() < 0.05 else ""
                self._add(street, px, py, building_name=name, building_number=str(number))
                if rng.random() < 0.03:  # an infill plot: 12A (sometimes 12B) beside 12
                    for letter in "AB"[: rng.choice((1, 1, 1, 2))]:
                        self._add(street, px, py, building_number=f"{number}{letter}")

    def _village_lane(self, street: Street, x: int, y: int) -> None:
        rng = self.rng
        names: set[str] = set()
        numbered = rng.random() < 0.3
        for i in range(1, rng.randint(3, 18) + 1):
            px, py = x + i * 40, y + rng.randint(-30, 30)
            if numbered:
                name = self._house_name(names) if rng.random() < 0.3 else ""
                self._add(street, px, py, building_name=name, building_number=str(i))
            elif rng.random() < 0.06:
                self._converted(street, "", px, py, name=self._house_name(names))
            else:
                self._add(street, px, py, building_name=self._house_name(names))

    def _house_name(self, used: set[str]) -> str:
        rng = self.rng
        for _ in range(50):
            r = rng.random()
            if r < 0.55:
                name = rng.choice(HOUSE_NAMES)
            elif r < 0.75:
                name = f"{rng.choice(self.surnames)} {rng.choice(('FARM', 'HOUSE', 'LODGE', 'COTTAGE'))}"
            elif r < 0.9:
                name = f"{rng.choice(TREES + FLOWERS)} {rng.choice(('COTTAGE', 'HOUSE', 'LODGE', 'VIEW'))}"
            else:
                first = rng.choice(("THE OLD", "HIGH", "LOW", "LITTLE"))
                name = f"{first} {rng.choice(('BARN', 'MILL', 'FARM', 'HOUSE'))}"
            if name not in used:
                used.add(name)
                return name
        return f"{rng.choice(self.surnames)} HOUSE {len(used)}"

    def _company(self) -> str:
        name = self.fake.company().upper().replace(",", "")
        return re.sub(r"\s+", " ", name)

    def _converted(self, street: Street, number: str, x: int, y: int, name: str = "") -> None:
        """A house divided into flats: the parent record keeps the house's address."""
        rng = self.rng
        parent = self._add(street, x, y, building_name=name, building_number=number, kind="parent")
        k = rng.choice((2, 2, 3, 3, 4))
        form = rng.choices(("number", "letter", "floor"), (60, 20, 20))[0]
        for i in range(k):
            if form == "number":
                sub = f"FLAT {i + 1}"
            elif form == "letter":
                sub = f"FLAT {'ABCD'[i]}"
            else:
                sub = ROMAN_FLOORS[i] if i < 3 else "TOP FLOOR FLAT"
                if i == 0 and rng.random() < 0.3:
                    sub = "BASEMENT FLAT"
            self._add(street, x, y, sub_building=sub, building_name=name, building_number=number, kind="flat",
                      parent=parent.id, floor=str(i))

    def _block(self, street: Street, number: str, x: int, y: int, used: set[str]) -> None:
        """A purpose-built block: named, sometimes numbered, several flats per floor."""
        rng = self.rng
        words, weights = zip(*BLOCK_WORDS, strict=True)
        for _ in range(30):
            stem = rng.choice(self.surnames) if rng.random() < 0.6 else rng.choice(TREES + FLOWERS)
            name = f"{stem} {rng.choices(words, weights)[0]}"
            if name not in used:
                break
        used.add(name)
        parent = self._add(street, x, y, building_name=name, building_number=number, kind="parent")
        k = min(80, max(4, int(rng.lognormvariate(2.4, 0.6))))
        word = "APARTMENT" if "APARTMENTS" in name or rng.random() < 0.15 else "FLAT"
        per_floor = rng.randint(3, 8)
        labels = [str(i) for i in range(1, k + 1)]
        if k >= 13 and rng.random() < 0.3:  # no flat 13: 12A or 14A instead, as some blocks do
            labels[12] = rng.choice(("12A", "14A"))
        extra = f"{rng.randint(1, k)}A"
        if rng.random() < 0.08 and extra not in labels:  # a letter flat added later (FLAT 3A)
            labels.append(extra)
        for i, label in enumerate(labels):
            self._add(street, x, y, sub_building=f"{word} {label}", building_name=name, building_number=number,
                      kind="flat", parent=parent.id, floor=str(i // per_floor))

    def _business(self, street: Street, number: str, x: int, y: int, used: set[str]) -> None:
        """A business site: UNIT n with an organisation in each (the gazetteer form of a non-residential flat)."""
        rng = self.rng
        name = f"{rng.choice(self.surnames)} {rng.choice(BUSINESS_SITES)}"
        if name in used or number != "1":
            self._add(street, x, y, organisation=self._company(), building_number=number, kind="org")
            return
        used.add(name)
        parent = self._add(street, x, y, building_name=name, kind="parent")
        for i in range(1, rng.randint(3, 12) + 1):
            self._add(street, x, y, organisation=self._company() if rng.random() < 0.8 else "",
                      sub_building=f"UNIT {i}", building_name=name, kind="flat", parent=parent.id)


class IdMaker:
    """Unique 12-digit text ids in random order. About one in ten starts with 0, so a matcher that casts ids
    to integers breaks on this data instead of in production."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"ids|{seed}")
        self.seen: set[int] = set()

    def next(self) -> str:
        while True:
            n = self.rng.randrange(10**12)
            if n not in self.seen:
                self.seen.add(n)
                return f"{n:012d}"


# --------------------------------------------------------------------------- held-out addresses
def choose_held_out(gaz: Gazetteer, n_target: int, seed: int) -> set[str]:
    """Addresses that exist but are left out of the reference. Near misses on purpose: single flats and houses
    (their neighbours, building and street stay in the reference) and a few whole streets whose name other
    towns have. Parent records stay unless their whole street goes."""
    rng = random.Random(f"holdout|{seed}")
    held: set[str] = set()
    name_towns: dict[str, set[str]] = defaultdict(set)
    for s in gaz.streets:
        name_towns[s.name].add(s.town)
    # a fifth from whole streets (new developments not yet in the gazetteer)
    streets = [s for s in gaz.streets if len(name_towns[s.name]) >= 2 and 3 <= len(s.addresses) <= 40]
    rng.shuffle(streets)
    dwellings = 0  # n_target counts addresses that can be queried: parents do not
    for s in streets:
        if dwellings >= n_target // 5:
            break
        held.update(a.id for a in s.addresses)
        dwellings += sum(a.kind != "parent" for a in s.addresses)
    flats = [a for a in gaz.addresses if a.kind == "flat" and a.id not in held]
    houses = [a for a in gaz.addresses if a.kind == "house" and a.id not in held]
    # suffix houses (12A beside 12) are a small class: take them at a higher rate, they are the hardest near miss
    suffixed = [a for a in houses if re.fullmatch(r"\d+[A-Z]", a.building_number)]
    n_rest = max(0, n_target - dwellings)
    picks = rng.sample(flats, min(len(flats), int(n_rest * 0.45)))
    picks += rng.sample(suffixed, min(len(suffixed), int(n_rest * 0.08)))
    held.update(a.id for a in picks)
    plain = [a for a in houses if a.id not in held]
    held.update(a.id for a in rng.sample(plain, min(len(plain), n_rest - len(picks))))
    return held


# --------------------------------------------------------------------------- address-errors
def components(addresses: Sequence[Address]) -> list[dict[str, str]]:
    """The reference in address-errors' component format (uprn, subname, name, number, streetname, ...)."""
    cls = {"house": "RD03", "flat": "RD06", "parent": "PP", "org": "CR"}
    rows = []
    for a in addresses:
        rows.append({
            "uprn": a.id, "feature_type": "builtaddress", "subname": a.sub_building, "name": a.building_name,
            "number": a.building_number, "streetname": a.street, "locality": a.locality, "townname": a.town,
            "postcode": a.postcode, "floorlevel": a.floor, "classificationcode": cls[a.kind],
            "parentuprn": a.parent, "rootuprn": a.parent or a.id, "usrn": a.usrn,
            "organisationname": a.organisation, "easting": str(a.easting), "northing": str(a.northing),
        })
    return rows


def load_records(addresses: Sequence[Address]) -> list[dict[str, str]]:
    """Component rows with the typing columns address-errors derives (as load_components does for a CSV)."""
    from address_errors.context import COLUMNS, add_context
    from address_errors.pipeline.reference import derive_columns

    rows = components(addresses)
    for r in rows:
        for c in COLUMNS:
            r.setdefault(c, "")
    derive_columns(rows)
    return add_context(rows)


def corrupt(records: list[dict[str, str]], plan: dict[str, list[str]], seed: int,
            progress: Callable[[str], None]) -> dict[tuple[str, str], dict[str, str]]:
    """Runs one Corruptor per style config over its targets. Returns {(config, target id): output row}."""
    from address_errors import Controls, Corruptor, Noise, Profile

    profile = Profile.load()
    out: dict[tuple[str, str], dict[str, str]] = {}
    for k, cfg in enumerate(STYLE_CONFIGS):
        targets = sorted(plan.get(cfg.name, []))
        if not targets:
            continue
        t0 = time.perf_counter()
        # heavier noise than councils make: most records get one to three extra edits (typos lead)
        noise = Noise(rate=0.9, max_ops=3) if cfg.noise else Noise()
        controls = Controls(intensity=cfg.intensity, noise=noise)
        gen = Corruptor(profile, style=cfg.style, seed=seed * 100 + k, controls=controls, rates=cfg.rates,
                        source_id=cfg.name)
        gen.index(records)
        for row in gen.generate(targets):
            out[(cfg.name, row["assigned_uprn"])] = row
        progress(f"  {cfg.name:15s} {len(targets):6d} queries, touched {gen.stats['touched']:5d}, "
                 f"{time.perf_counter() - t0:5.1f} s")
    return out


# --------------------------------------------------------------------------- queries
def allocate(ids: Sequence[str], quotas: Sequence[int], max_per_id: int, rng: random.Random
             ) -> list[list[tuple[str, int]]]:
    """Shares the queries among ids (one each, some two or three: the same address written by other sources),
    each id wholly in one split. Returns per split a list of (id, number of queries)."""
    total = sum(quotas)
    ids = list(ids)
    rng.shuffle(ids)
    n_ids = min(len(ids), max(len(quotas), math.ceil(total / 1.15)))
    if n_ids * max_per_id < total:
        raise SystemExit(f"not enough addresses for {total} queries: {len(ids)} available")
    splits: list[list[tuple[str, int]]] = []
    start, cum = 0, 0
    for quota in quotas:
        cum += quota
        end = round(n_ids * cum / total)
        chunk = ids[start:end]
        start = end
        counts = dict.fromkeys(chunk, 1)
        extra = quota - len(chunk)
        while extra > 0:
            i = rng.choice(chunk)
            if counts[i] < max_per_id:
                counts[i] += 1
                extra -= 1
        splits.append(list(counts.items()))
    return splits


def pick_configs(building: str, target: str, n: int, seed: int) -> list[str]:
    """n distinct style configs for one target. The first is drawn per building, so the units of a block that
    one source wrote down share its conventions (address-errors models that within one run)."""
    names = [c.name for c in STYLE_CONFIGS]
    weights = [c.weight for c in STYLE_CONFIGS]
    chosen = [random.Random(f"style|{seed}|{building}").choices(names, weights)[0]]
    rng = random.Random(f"style|{seed}|{target}")
    while len(chosen) < n:
        c = rng.choices(names, weights)[0]
        if c not in chosen:
            chosen.append(c)
    return chosen


def render(row: dict[str, str], rng: random.Random) -> str:
    """Joins the corrupted address and postcode the way a clerk or respondent might: the source's own commas and
    case mostly, sometimes without commas or retyped in lower or title case (a web form), the postcode glued on
    or left off. Title case leaves the postcode alone, as people write it."""
    text, pc = row["recorded_address"].strip(), row["recorded_postcode"].strip()
    if "," in text and rng.random() < 0.12:
        text = re.sub(r"\s*,\s*", " ", text)
    r = rng.random()
    if r < 0.05:
        text, pc = text.lower(), pc.lower() if rng.random() < 0.6 else pc
    elif r < 0.10:
        text = text.title()
    if pc and rng.random() < 0.9:
        text = f"{text}{', ' if ',' in text or rng.random() < 0.3 else ' '}{pc}"
    return re.sub(r"\s+", " ", text).strip()


def near_miss_kind(a: Address, streets: set[tuple[str, str, str]], buildings: set[str]) -> str:
    """What a not-in-reference query is near to, for the summary."""
    if (a.street, a.locality, a.town) not in streets:
        return "street missing (name known elsewhere)"
    if a.kind == "flat":
        return "flat of a listed building" if a.parent in buildings else "flat, building missing"
    if re.fullmatch(r"\d+[A-Z]", a.building_number):
        return "suffix house (12A) on a listed street"
    return "house on a listed street"


# --------------------------------------------------------------------------- writing
def write_csv_gz(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    """UTF-8 CSV, gzip with mtime 0 and no name in the header: the same rows give the same bytes."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    n = 0
    for row in rows:
        w.writerow(row)
        n += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        gz.write(buf.getvalue().encode("utf-8"))
    tmp.replace(path)
    return n


# --------------------------------------------------------------------------- the whole build
@dataclass
class BuildReport:
    """What one build wrote, and the error tallies that only the corruptor's truth table can tell."""

    written: dict[str, int]
    collisions: Counter[str]  # address-errors' collision check per query
    near_miss: Counter[str]  # what each not-in-reference query is near to
    edits: Counter[str]  # queries with a profile edit, a postcode edit, extra noise, label drift
    seconds: float


def build(seed: int, out: Path, sizes: Sizes, progress: Callable[[str], None] = print) -> BuildReport:
    t_start = time.perf_counter()
    quotas = [sizes.train, sizes.dev, sizes.test]
    out_quotas = [round(q * sizes.out_share) for q in quotas]
    in_quotas = [q - o for q, o in zip(quotas, out_quotas, strict=True)]
    n_out = sum(out_quotas)
    n_held = math.ceil(n_out / 1.15)
    progress(f"generating ~{sizes.reference + n_held:,} addresses (reference {sizes.reference:,} "
             f"+ {n_held:,} held out), seed {seed}")
    gaz = Gazetteer(seed, sizes.reference + n_held)
    universe = gaz.build()
    held = choose_held_out(gaz, n_held, seed)
    reference = [a for a in universe if a.id not in held]
    ref_ids = {a.id for a in reference}
    progress(f"  {len(universe):,} addresses in {len(gaz.streets):,} street segments, "
             f"{len({s.town for s in gaz.streets})} towns; {len(held):,} held out "
             f"({time.perf_counter() - t_start:.1f} s)")

    # targets: dwellings and organisations, never a parent record (nobody writes down an empty building shell)
    rng = random.Random(f"queries|{seed}")
    in_ids = sorted(a.id for a in reference if a.kind != "parent")
    out_ids = sorted(a.id for a in universe if a.id in held and a.kind != "parent")
    in_split = allocate(in_ids, in_quotas, 3, rng)
    out_split = allocate(out_ids, out_quotas, 3, rng)
    by_id = {a.id: a for a in universe}
    plan: dict[str, list[str]] = defaultdict(list)
    wanted: list[list[tuple[str, str]]] = [[] for _ in quotas]  # per split: (config, target id)
    for s in range(len(quotas)):
        for target, n in in_split[s] + out_split[s]:
            a = by_id[target]
            for cfg in pick_configs(a.parent or a.id, a.id, n, seed):
                plan[cfg].append(target)
                wanted[s].append((cfg, target))

    progress(f"corrupting {sum(quotas):,} queries with address-errors")
    records = load_records(universe)
    rows = corrupt(records, plan, seed, progress)

    split_names = ("train", "dev", "test")
    collisions: Counter[str] = Counter()
    near_miss: Counter[str] = Counter()
    edits: Counter[str] = Counter()
    ref_streets = {(a.street, a.locality, a.town) for a in reference}
    ref_buildings = {a.parent for a in reference if a.parent}
    written: dict[str, int] = {}
    for s, name in enumerate(split_names):
        queries = []
        for cfg, target in wanted[s]:
            row = rows[(cfg, target)]
            # the truth is the address the string describes: under label drift address-errors writes a
            # neighbour's (or the parent's) clean address, which is that neighbour's, in the reference or not
            source = row["source_uprn"]
            truth = source if source in ref_ids else ""
            text = render(row, random.Random(f"render|{seed}|{cfg}|{target}"))
            queries.append((text, truth, cfg))
            collisions[row["collision"]] += 1
            edits["profile edit"] += bool(row["applied_rules"])
            edits["postcode edit"] += bool(row["postcode_edit"])
            edits["extra noise"] += bool(row["noise_ops"])
            edits["label drift"] += bool(row["label_drift_relation"])
            edits["any of these"] += bool(row["applied_rules"] or row["postcode_edit"] or row["noise_ops"]
                                          or row["label_drift_relation"])
            if not truth:
                near_miss[near_miss_kind(by_id[target], ref_streets, ref_buildings)] += 1
        random.Random(f"order|{seed}|{name}").shuffle(queries)
        written[name] = write_csv_gz(out / f"{name}.csv.gz", QUERY_COLUMNS, queries)
    written["reference"] = write_csv_gz(
        out / "reference.csv.gz", REFERENCE_COLUMNS,
        ([getattr(a, c) for c in REFERENCE_COLUMNS] for a in reference))
    return BuildReport(written, collisions, near_miss, edits, round(time.perf_counter() - t_start, 1))


# --------------------------------------------------------------------------- checks and the summary
def summarise(out: Path) -> list[tuple[str, str]]:
    """Reads back what was written and measures what the issue asks of the bed."""
    import pandas as pd

    ref = pd.read_csv(out / "reference.csv.gz", dtype=str, keep_default_na=False)
    lines: list[tuple[str, str]] = []
    size = sum(f.stat().st_size for f in out.glob("*.csv.gz"))
    lines.append(("reference addresses", f"{len(ref):,}"))
    is_flat = ref.sub_building.ne("")
    building = ref.building_name + "|" + ref.building_number + "|" + ref.street + "|" + ref.locality + "|" + ref.town
    parent = ~is_flat & building.isin(set(building[is_flat]))
    lines.append(("flats (sub_building set)",
                  f"{is_flat.mean():.1%} of rows ({is_flat.sum() / (~parent).sum():.1%} of non-parent rows)"))
    lines.append(("buildings with flats (parent rows)", f"{parent.sum():,}, "
                                                        f"{is_flat.sum() / max(1, parent.sum()):.1f} flats each"))
    lines.append(("named buildings", f"{ref.building_name.ne('').mean():.1%}"))
    suffix = ref.building_number.str.fullmatch(r"\d+[A-Z]").mean()
    lines.append(("numbers with suffix / range", f"{suffix:.1%} / {ref.building_number.str.contains('-').mean():.1%}"))
    lines.append(("organisations", f"{ref.organisation.ne('').mean():.1%}"))
    dup = ref.drop(columns=["id", "postcode"]).duplicated(keep=False).sum()
    lines.append(("rows equal to another but for id/postcode", f"{dup:,}"))
    lines.append(("with locality", f"{ref.locality.ne('').mean():.1%}"))
    towns_per_name = ref.groupby("street").town.nunique()
    shared = towns_per_name[towns_per_name >= 2]
    segments = ref.groupby(["town", "locality", "street"]).ngroups
    lines.append(("towns / street segments", f"{ref.town.nunique()} / {segments:,}"))
    lines.append(("street names in >=2 towns", f"{len(shared) / len(towns_per_name):.1%} of names, "
                                                f"{ref.street.isin(shared.index).mean():.1%} of addresses"))
    lines.append(("towns per street name", f"median {towns_per_name.median():.0f}, mean {towns_per_name.mean():.1f},"
                                            f" max {towns_per_name.max()}"))
    lines.append(("postcodes / addresses per postcode", f"{ref.postcode.nunique():,} / "
                                                         f"{len(ref) / ref.postcode.nunique():.1f}"))
    for split in ("train", "dev", "test"):
        q = pd.read_csv(out / f"{split}.csv.gz", dtype=str, keep_default_na=False)
        lines.append((f"{split} queries", f"{len(q):,}, not in reference {q.id.eq('').mean():.1%}, "
                                          f"ids {q.id[q.id.ne('')].nunique():,}"))
    q = pd.concat([pd.read_csv(out / f"{s}.csv.gz", dtype=str, keep_default_na=False)
                   for s in ("train", "dev", "test")])
    mix = q["style"].value_counts(normalize=True)
    lines.append(("styles", ", ".join(f"{k} {v:.0%}" for k, v in mix.items())))
    with_pc = q.text.str.contains(r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$", case=False).mean()
    lines.append(("queries ending in a postcode", f"{with_pc:.1%}"))
    lines.append(("files", f"{size / 1024:,.0f} kB in {out}"))
    return lines


def samples(out: Path, n: int = 12, seed: int = 0) -> list[str]:
    import pandas as pd

    ref = pd.read_csv(out / "reference.csv.gz", dtype=str, keep_default_na=False).set_index("id")
    q = pd.read_csv(out / "test.csv.gz", dtype=str, keep_default_na=False).sample(n, random_state=seed)
    fields = [c for c in REFERENCE_COLUMNS if c != "id"]
    lines = []
    for _, row in q.iterrows():
        truth = ", ".join(v for v in ref.loc[row.id, fields] if v) if row.id else "(not in reference)"
        lines.append(f"[{row['style']}] {row.text}\n      -> {row.id or '-'} {truth}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=15, help="random seed; the same seed gives the same bytes (15)")
    p.add_argument("--out", type=Path, help=f"output folder (default {DEFAULT_OUT}; with --small the demo folder)")
    p.add_argument("--reference-size", type=int, help="about this many reference addresses (100000; --small 5000)")
    p.add_argument("--train", type=int, help="train queries (20000; --small 3000)")
    p.add_argument("--dev", type=int, help="dev queries (5000; --small 1000)")
    p.add_argument("--test", type=int, help="test queries (10000; --small 1000)")
    p.add_argument("--out-share", type=float, default=0.10,
                   help="share of each split that is not in the reference (0.10)")
    p.add_argument("--small", action="store_true",
                   help=f"write the small demo copy (with ATTRIBUTION.txt) to {DEMO_OUT.relative_to(REPO)}")
    p.add_argument("--quiet", action="store_true", help="no progress, only the summary")
    a = p.parse_args(argv)
    small = a.small
    sizes = Sizes(reference=a.reference_size or (5000 if small else 100_000),
                  train=a.train or (3000 if small else 20_000), dev=a.dev or (1000 if small else 5000),
                  test=a.test or (1000 if small else 10_000), out_share=a.out_share)
    out = a.out or (DEMO_OUT if small else DEFAULT_OUT)

    def progress(msg: str) -> None:
        if not a.quiet:
            print(msg, file=sys.stderr, flush=True)

    report = build(a.seed, out, sizes, progress)
    if small:
        (out / "ATTRIBUTION.txt").write_text(ATTRIBUTION.format(seed=a.seed), encoding="utf-8")
    progress("samples (test split): query -> true id and reference address")
    for line in samples(out, seed=a.seed):
        progress("  " + line)
    rows = summarise(out)
    coll = report.collisions
    total = sum(coll.values())
    other = coll.get("matches_other_only", 0) + coll.get("matches_label_and_other", 0)
    rows.append(("written = another address", f"{other / total:.2%} of queries (address-errors collision check)"))
    rows.append(("queries with", ", ".join(f"{k} {v / total:.1%}" for k, v in report.edits.items())))
    near = report.near_miss
    rows.append(("not-in-reference queries", ", ".join(f"{k} {v / sum(near.values()):.0%}"
                                                       for k, v in sorted(near.items(), key=lambda kv: -kv[1]))))
    rows.append(("run time", f"{report.seconds} s"))
    width = max(len(k) for k, _ in rows)
    print(f"address test bed, seed {a.seed}")
    for k, v in rows:
        print(f"  {k:<{width}}  {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
