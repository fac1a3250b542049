"""A child process's script that runs as if some packages were not installed."""

from __future__ import annotations


def without_modules(*names: str) -> str:
    """Python source that makes importing any of the top-level packages `names` fail, as if they were
    not installed: the start of a script run with `python -c` (it imports sys)."""
    return ("import sys\n"
            "class _NotInstalled:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.split('.')[0] in {tuple(names)!r}:\n"
            "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
            "sys.meta_path.insert(0, _NotInstalled())\n")
