"""Who acts in the governance tests, and the SOC2010 catalogue they work on."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from statops import Workspace
from statops.accounts import Actor, add_user, create_token
from tests.conftest import SocFiles

ADMIN = Actor("root", "admin", "local")
ALICE = Actor("alice", "modeller", "token")  # trains and asks for approval
BOB = Actor("bob", "approver", "token")
CAROL = Actor("carol", "approver", "token")
VIC = Actor("vic", "viewer", "token")


def add_people(ws: Workspace, *actors: Actor) -> dict[str, str]:
    """Add each actor as a user with its role (by ADMIN); name -> a token of theirs."""
    tokens = {}
    for actor in actors:
        add_user(ws, ADMIN if actor != ADMIN else Actor("first", "admin", "local"), actor.name, actor.role)
        tokens[actor.name] = create_token(ws, ADMIN, actor.name)[1]
    return tokens


def add_soc_catalogue(ws: Workspace, folder: Path, soc: SocFiles, train_rows: int,
                      extra: dict[str, Path] | None = None) -> Path:
    """SOC2010 and datasets soc-train (its first `train_rows` records), soc-dev and `extra` ones;
    returns the training file."""
    from statops.classifications import add_classification
    from statops.data import add_dataset

    add_classification(ws, "soc2010", soc.structure, version="2010")
    train = folder / "train.csv"
    pd.read_csv(soc.train, dtype=str, keep_default_na=False).head(train_rows).to_csv(train, index=False)
    for name, path in {"soc-train": train, "soc-dev": soc.dev, **(extra or {})}.items():
        add_dataset(ws, name, path, "text", "soc2010", "soc2010", cycle="2016", gsbpm="5.2")
    return train
