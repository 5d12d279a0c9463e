"""The sample directory ``scimsync demo`` provisions (package data, not public API).

* ``users.csv``: 1,000 people of a fictional company, Northwind Outfitters, one row each:
  ``id, username, first_name, last_name, email, personal_email, department, title,
  employee_number, location, is_active``. A handful carry data AWS IAM Identity Center
  refuses (a missing family name, a userName with a space, two email addresses, a
  zero-width space in a name), so the demo can show clear validation errors.
* ``groups.json``: 30 groups (``id``, ``name``, ``members`` as user ids); departments,
  offices, AWS access groups and projects. ``engineering`` has more than 100 members, so
  its membership goes out in several PATCH requests.
* ``changes.json``: "a day of changes" the demo applies through automatic mode, in order:
  each item has a ``time`` (for the narrative), an ``op`` and its arguments.

Regenerate with ``python -m scimsync.demo_data.generate`` (deterministic: same output
every time; a test checks the shipped files match).
"""

from __future__ import annotations

from pathlib import Path

#: The folder holding the data files.
DATA_DIR = Path(__file__).resolve().parent

__all__ = ["DATA_DIR"]
