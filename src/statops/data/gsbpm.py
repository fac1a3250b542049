"""GSBPM 5.1 sub-processes, to tie datasets and models to the step of statistical production.

Names from the Generic Statistical Business Process Model v5.1 (UNECE, 2019), licensed CC BY 4.0.
"""

from __future__ import annotations

import re

from statops.errors import InvalidInput

SUBPROCESSES: dict[str, str] = {
    "1.1": "Identify needs", "1.2": "Consult and confirm needs", "1.3": "Establish output objectives",
    "1.4": "Identify concepts", "1.5": "Check data availability", "1.6": "Prepare and submit business case",
    "2.1": "Design outputs", "2.2": "Design variable descriptions", "2.3": "Design collection",
    "2.4": "Design frame and sample", "2.5": "Design processing and analysis",
    "2.6": "Design production systems and workflow",
    "3.1": "Reuse or build collection instruments",
    "3.2": "Reuse or build processing and analysis components",
    "3.3": "Reuse or build dissemination components", "3.4": "Configure workflows",
    "3.5": "Test production systems", "3.6": "Test statistical business process",
    "3.7": "Finalise production systems",
    "4.1": "Create frame and select sample", "4.2": "Set up collection", "4.3": "Run collection",
    "4.4": "Finalise collection",
    "5.1": "Integrate data", "5.2": "Classify and code", "5.3": "Review and validate",
    "5.4": "Edit and impute", "5.5": "Derive new variables and units", "5.6": "Calculate weights",
    "5.7": "Calculate aggregates", "5.8": "Finalise data files",
    "6.1": "Prepare draft outputs", "6.2": "Validate outputs", "6.3": "Interpret and explain outputs",
    "6.4": "Apply disclosure control", "6.5": "Finalise outputs",
    "7.1": "Update output systems", "7.2": "Produce dissemination products",
    "7.3": "Manage release of dissemination products", "7.4": "Promote dissemination products",
    "7.5": "Manage user support",
    "8.1": "Gather evaluation inputs", "8.2": "Conduct evaluation", "8.3": "Agree an action plan",
}

CYCLE_PATTERN = re.compile(r"^\d{4}(Q[1-4]|M(0[1-9]|1[0-2])|-(0[1-9]|1[0-2])|W(0[1-9]|[1-4]\d|5[0-3])|H[12])?$")


def check_gsbpm(step: str | None) -> str | None:
    """A GSBPM 5.1 sub-process number such as 5.2, or None."""
    if step is None:
        return None
    if step not in SUBPROCESSES:
        raise InvalidInput(f"unknown GSBPM sub-process '{step}'; use one like 5.2 ({SUBPROCESSES['5.2']})")
    return step


def check_cycle(cycle: str | None) -> str | None:
    """A production cycle: 2024, 2024Q1, 2024M03, 2024-03, 2024W05 or 2024H1, or None."""
    if cycle is None:
        return None
    if not CYCLE_PATTERN.match(cycle):
        raise InvalidInput(
            f"invalid production cycle '{cycle}'; use a year with an optional period, "
            "e.g. 2024, 2024Q1, 2024M03, 2024-03, 2024W05, 2024H1"
        )
    return cycle
