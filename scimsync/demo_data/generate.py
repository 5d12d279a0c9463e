"""Generate the demo's sample directory: ``python -m scimsync.demo_data.generate [DIR]``.

Deterministic (a fixed seed, no clock): running it again writes byte-identical files, and
``tests/test_demo.py`` checks that the shipped files are what this script writes.
"""

from __future__ import annotations

import csv
import io
import json
import random
import sys
import unicodedata
from pathlib import Path
from typing import Any

SEED = 20261123
N_USERS = 1000
DOMAIN = "northwind-outfitters.example"

FIRST = [
    "Aisha",
    "Alejandro",
    "Amara",
    "Anders",
    "Ananya",
    "Arjun",
    "Astrid",
    "Beatriz",
    "Bilal",
    "Camille",
    "Carlos",
    "Chen",
    "Chiara",
    "Chloé",
    "Daniel",
    "Dmitri",
    "Elena",
    "Emeka",
    "Emma",
    "Fatima",
    "Felix",
    "Freya",
    "Gabriel",
    "Hana",
    "Hiroshi",
    "Ines",
    "Ingrid",
    "Isabel",
    "Ivan",
    "Jamal",
    "Javier",
    "Jin",
    "Joana",
    "José",
    "Julia",
    "Kai",
    "Kenji",
    "Kwame",
    "Laila",
    "Lars",
    "Leila",
    "Liam",
    "Lina",
    "Lucas",
    "Łukasz",
    "Maya",
    "Mateo",
    "Mei",
    "Mohammed",
    "Nadia",
    "Naledi",
    "Nikolai",
    "Noah",
    "Nora",
    "Olga",
    "Omar",
    "Oscar",
    "Priya",
    "Rafael",
    "Rania",
    "Ravi",
    "Rosa",
    "Sakura",
    "Samir",
    "Sara",
    "Sebastian",
    "Siddharth",
    "Sofia",
    "Søren",
    "Tariq",
    "Thandiwe",
    "Tomás",
    "Uma",
    "Valentina",
    "Wei",
    "Yara",
    "Yusuf",
    "Zainab",
    "Zoë",
]
LAST = [
    "Abebe",
    "Adeyemi",
    "Andersen",
    "Bauer",
    "Becker",
    "Bianchi",
    "Castillo",
    "Chowdhury",
    "Costa",
    "Dahl",
    "Dubois",
    "Eriksson",
    "Fernandes",
    "Fischer",
    "García",
    "Haddad",
    "Hansen",
    "Hoffmann",
    "Ibrahim",
    "Ito",
    "Jansen",
    "Jensen",
    "Kaya",
    "Khan",
    "Kim",
    "Kowalski",
    "Kumar",
    "Larsen",
    "Laurent",
    "Lee",
    "Lindqvist",
    "López",
    "Martin",
    "Mendes",
    "Meyer",
    "Moreau",
    "Müller",
    "Murphy",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Nowak",
    "Okafor",
    "Olsen",
    "Park",
    "Patel",
    "Pereira",
    "Petrov",
    "Popescu",
    "Quinn",
    "Rahman",
    "Ramos",
    "Rossi",
    "Santos",
    "Sato",
    "Schmidt",
    "Schneider",
    "Silva",
    "Singh",
    "Smirnova",
    "Sousa",
    "Suzuki",
    "Tanaka",
    "Torres",
    "Wagner",
    "Walsh",
    "Weber",
    "Wong",
    "Yamamoto",
    "Yilmaz",
    "Zhang",
]

#: department -> (share of the company, titles, AWS access group or None)
DEPARTMENTS: dict[str, tuple[int, tuple[str, ...]]] = {
    "Engineering": (
        26,
        (
            "Software Engineer",
            "Senior Software Engineer",
            "Staff Engineer",
            "Engineering Manager",
            "SRE",
        ),
    ),
    "Sales": (14, ("Account Executive", "Sales Development Rep", "Sales Manager")),
    "Customer Support": (12, ("Support Specialist", "Support Lead")),
    "Operations": (10, ("Operations Analyst", "Warehouse Lead", "Logistics Coordinator")),
    "Marketing": (8, ("Marketing Manager", "Content Strategist", "Growth Analyst")),
    "Product": (7, ("Product Manager", "Senior Product Manager")),
    "Finance": (7, ("Accountant", "Financial Analyst", "Controller")),
    "Design": (6, ("Product Designer", "UX Researcher")),
    "People": (6, ("People Partner", "Recruiter")),
    "Legal": (4, ("Counsel", "Paralegal")),
}
LOCATIONS = (
    ("Berlin", 22),
    ("London", 20),
    ("New York", 20),
    ("Singapore", 12),
    ("São Paulo", 10),
    ("Remote", 16),
)


def _slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    folded = folded.replace("Ł", "L").replace("ł", "l")
    return "".join(c for c in folded.lower() if c.isalnum() or c in "-")


def _ascii(text: str) -> str:
    text = text.replace("Ł", "L").replace("ł", "l").replace("ø", "o").replace("Ø", "O")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _weighted(rng: random.Random, table: Any) -> str:
    names = [n for n, _ in table]
    weights = [w for _, w in table]
    return str(rng.choices(names, weights=weights, k=1)[0])


def build() -> tuple[list[dict[str, str]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Return ``(users, groups, changes)``."""
    rng = random.Random(SEED)
    users: list[dict[str, str]] = []
    taken: set[str] = set()
    dept_table = [(d, share) for d, (share, _titles) in DEPARTMENTS.items()]
    for i in range(1, N_USERS + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        base = f"{_ascii(first).lower()}.{_ascii(last).lower()}"
        username, n = base, 1
        while username in taken:
            n += 1
            username = f"{base}{n}"
        taken.add(username)
        dept = _weighted(rng, dept_table)
        title = rng.choice(DEPARTMENTS[dept][1])
        users.append(
            {
                "id": str(i),
                "username": username,
                "first_name": first,
                "last_name": last,
                "email": f"{username}@{DOMAIN}",
                "personal_email": "",
                "department": dept,
                "title": title,
                "employee_number": f"NW{10000 + i}",
                "location": _weighted(rng, LOCATIONS),
                "is_active": "true",
            }
        )

    # A few people whose data AWS IAM Identity Center refuses.
    by_id = {u["id"]: u for u in users}
    by_id["137"].update(  # a mononym: no family name
        first_name="Teller", last_name="", username="teller", email=f"teller@{DOMAIN}"
    )
    by_id["428"].update(  # a userName with a space
        first_name="Anna Maria",
        last_name="Rossi",
        username="anna maria.rossi",
        email=f"annamaria.rossi@{DOMAIN}",
    )
    u = by_id["777"]  # two email addresses (AWS accepts exactly one)
    u["personal_email"] = f"{u['username']}@mail.example"
    by_id["913"].update(  # a zero-width space pasted into a name
        first_name="Zo\u200be", username="zoe.popescu", email=f"zoe.popescu@{DOMAIN}"
    )
    assert len({u["username"] for u in users}) == len(users)

    # Groups: 10 departments, 6 offices, 14 access/project/community groups = 30.
    groups: list[dict[str, Any]] = []

    def group(gid: str, name: str, members: list[str], description: str) -> None:
        groups.append(
            {
                "id": gid,
                "name": name,
                "description": description,
                "members": sorted(members, key=int),
            }
        )

    for dept in DEPARTMENTS:
        group(
            _slug(dept.replace(" ", "-")),
            dept,
            [u["id"] for u in users if u["department"] == dept],
            f"Everyone in {dept}",
        )
    for loc, _w in LOCATIONS:
        group(
            "office-" + _slug(loc.replace(" ", "-")),
            f"Office {loc}" if loc != "Remote" else "Remote Workers",
            [u["id"] for u in users if u["location"] == loc],
            f"People based in {loc}" if loc != "Remote" else "People working remotely",
        )
    eng = [u["id"] for u in users if u["department"] == "Engineering"]
    sre = [u["id"] for u in users if u["title"] == "SRE"]
    managers = [
        u["id"]
        for u in users
        if "Manager" in u["title"] or u["title"] in ("Support Lead", "Controller", "Warehouse Lead")
    ]
    group(
        "aws-administrators", "AWS Administrators", sre[:8], "Admin access to production accounts"
    )
    group(
        "aws-developers",
        "AWS Developers",
        eng[: int(len(eng) * 0.6)],
        "Developer access to sandbox and staging",
    )
    group(
        "aws-readonly",
        "AWS Read-Only",
        [u["id"] for u in users if u["department"] in ("Finance", "Product")][:70],
        "Read-only access to billing and dashboards",
    )
    group(
        "aws-billing",
        "AWS Billing",
        [u["id"] for u in users if u["department"] == "Finance"][:12],
        "Billing console",
    )
    group("oncall", "On-call Engineers", sre + eng[::9], "The on-call rota")
    group("security-champions", "Security Champions", rng.sample(eng, 14), "One per team")
    group("people-managers", "People Managers", managers, "Everyone who manages a team")
    pool = [u["id"] for u in users if u["department"] in ("Engineering", "Product", "Design")]
    group("project-phoenix", "Project Phoenix", rng.sample(pool, 32), "Warehouse system rewrite")
    group("project-atlas", "Project Atlas", rng.sample(pool, 24), "New store locator")
    group("project-nova", "Project Nova", rng.sample(pool, 18), "Loyalty programme")
    group("guild-python", "Python Guild", rng.sample(eng, 40), "Python practice and reviews")
    group("guild-data", "Data Guild", rng.sample(pool, 30), "Analytics and data engineering")
    group(
        "new-joiners-2026",
        "New Joiners 2026",
        rng.sample([u["id"] for u in users], 45),
        "Onboarding cohort",
    )
    group("book-club", "Book Club", rng.sample([u["id"] for u in users], 27), "Monthly book club")
    assert len(groups) == 30, len(groups)
    assert len({g["name"] for g in groups}) == 30

    # A day of changes, applied in order through automatic mode.
    valid = [u for u in users if u["id"] not in ("137", "428", "777", "913")]
    pick = rng.sample(valid, 20)
    changes: list[dict[str, Any]] = []

    def change(time: str, op: str, why: str, **kw: Any) -> None:
        changes.append({"time": time, "op": op, "why": why, **kw})

    sales_person = next(u for u in valid if u["department"] == "Sales" and u not in pick)
    phoenix = next(g for g in groups if g["id"] == "project-phoenix")
    developers = next(g for g in groups if g["id"] == "aws-developers")

    a, b, c = pick[0], pick[1], pick[2]
    change(
        "08:02",
        "update_user",
        "married; takes a new family name",
        key=a["id"],
        set={"last_name": "Okonkwo"},
    )
    change(
        "08:15",
        "update_user",
        "prefers a shorter first name",
        key=b["id"],
        set={
            "first_name": b["first_name"][:3] if len(b["first_name"]) > 4 else b["first_name"] + "a"
        },
    )
    new_user = f"{_ascii(c['first_name']).lower()}.{_ascii(c['last_name']).lower()}-lindgren"
    change(
        "08:40",
        "update_user",
        "double-barrelled name: new userName and email (the link keeps the same remote user)",
        key=c["id"],
        set={
            "last_name": f"{c['last_name']}-Lindgren",
            "username": new_user,
            "email": f"{new_user}@{DOMAIN}",
        },
    )
    change(
        "09:30",
        "update_user",
        "moves from Sales to Engineering",
        key=sales_person["id"],
        set={"department": "Engineering", "title": "Software Engineer"},
        groups={"remove": ["sales"], "add": ["engineering", "aws-developers"]},
    )
    leavers = list(pick[3:7])
    for t, u in zip(("10:05", "11:20", "13:45", "15:10"), leavers, strict=True):
        change(
            t,
            "update_user",
            "left the company (account disabled in HR)",
            key=u["id"],
            set={"is_active": "false"},
        )
    removed = [m for m in phoenix["members"] if m not in {u["id"] for u in leavers}][:5]
    change(
        "12:00",
        "remove_members",
        "Project Phoenix shrinks after its launch",
        group="project-phoenix",
        members=removed,
    )
    dev_removed = [m for m in developers["members"] if m not in {u["id"] for u in leavers}][-3:]
    change(
        "12:30",
        "remove_members",
        "quarterly access review removes sandbox access",
        group="aws-developers",
        members=dev_removed,
    )
    deleted = pick[7]
    change(
        "16:00",
        "delete_user",
        "a contractor record entered by mistake is deleted",
        key=deleted["id"],
    )
    change(
        "16:30",
        "create_user",
        "a new hire starts tomorrow",
        user={
            "id": str(N_USERS + 1),
            "username": "grace.hopper",
            "first_name": "Grace",
            "last_name": "Hopper",
            "email": f"grace.hopper@{DOMAIN}",
            "personal_email": "",
            "department": "Engineering",
            "title": "Staff Engineer",
            "employee_number": f"NW{10000 + N_USERS + 1}",
            "location": "New York",
            "is_active": "true",
        },
        groups={"add": ["engineering", "office-new-york", "new-joiners-2026", "aws-developers"]},
    )
    change("14:20", "delete_group", "Project Nova is cancelled", group="project-nova")
    change(
        "17:15",
        "rename_group",
        "Book Club becomes Reading Circle",
        group="book-club",
        name="Reading Circle",
    )
    changes.sort(key=lambda ch: str(ch["time"]))
    return users, groups, changes


USER_COLUMNS = (
    "id",
    "username",
    "first_name",
    "last_name",
    "email",
    "personal_email",
    "department",
    "title",
    "employee_number",
    "location",
    "is_active",
)


def render() -> dict[str, str]:
    """The three files' text, by file name."""
    users, groups, changes = build()
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(USER_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(users)
    return {
        "users.csv": buf.getvalue(),
        "groups.json": json.dumps(groups, indent=1, ensure_ascii=False) + "\n",
        "changes.json": json.dumps(changes, indent=1, ensure_ascii=False) + "\n",
    }


def main(argv: list[str] | None = None) -> int:
    """Write the files into ``argv[0]`` (default: this package's folder)."""
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else Path(__file__).resolve().parent
    for name, text in render().items():
        (out / name).write_text(text, encoding="utf-8")
        print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
