"""Micro-benchmark: cost of scimsync's model conversion for one full AWS-shaped user.

Prints microseconds per call of ``from_wire(User, data)`` and ``to_wire(user)`` next to
``json.loads``/``json.dumps`` of the same body, measured in the same run, and the ratios.
A ratio of 2.0 means the conversion costs as much as decoding the JSON twice.

Run: ``.venv/bin/python benchmarks/models.py [--quick]``
"""

from __future__ import annotations

import argparse
import json
import timeit

from scimsync import ListResponse, User, from_wire, to_wire

# aws-scim.md §2.5: the documented full-user shape (CreateUser / PatchUser responses).
AWS_USER = {
    "id": "9067729b3d-94f1e0b3-c394-48d5-8ab1-2c122a167074",
    "externalId": "701984",
    "meta": {
        "resourceType": "User",
        "created": "2020-03-31T02:36:15Z",
        "lastModified": "2020-03-31T02:36:15Z",
    },
    "schemas": [
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    ],
    "userName": "bjensen",
    "name": {
        "formatted": "Ms. Barbara J Jensen, III",
        "familyName": "Jensen",
        "givenName": "Barbara",
        "middleName": "Jane",
        "honorificPrefix": "Ms.",
        "honorificSuffix": "III",
    },
    "displayName": "Babs Jensen",
    "nickName": "Babs",
    "title": "Tour Guide",
    "userType": "Employee",
    "preferredLanguage": "en-US",
    "locale": "en-US",
    "timezone": "America/Los_Angeles",
    "active": True,
    "emails": [{"value": "bjensen@example.com", "type": "work", "primary": True}],
    "addresses": [
        {
            "formatted": "...",
            "streetAddress": "100 Universal City Plaza",
            "locality": "Hollywood",
            "region": "CA",
            "postalCode": "91608",
            "country": "USA",
            "type": "work",
            "primary": True,
        }
    ],
    "phoneNumbers": [{"value": "555-555-5555", "type": "work"}],
    "roles": [{"value": "Researcher", "type": "work", "primary": True}],
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
        "employeeNumber": "701984",
        "costCenter": "4130",
        "organization": "Universal Studios",
        "division": "Theme Park",
        "department": "Tour Operations",
        "manager": {"value": "9067729b3d-ee533c18-538a-4cd3-a572-63fb863ed734"},
    },
}


def per_call_us(stmt: object, number: int, repeat: int) -> float:
    """Best-of-``repeat`` microseconds per call (the least disturbed measurement)."""
    times = timeit.repeat(stmt, number=number, repeat=repeat)  # type: ignore[arg-type]
    return min(times) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = parser.parse_args()
    number, repeat = (500, 3) if args.quick else (5000, 7)

    body = json.dumps(AWS_USER)
    data = json.loads(body)
    user = from_wire(User, data)
    assert to_wire(user) == AWS_USER, "round trip changed the user"
    page = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]}
    page_body = json.dumps({**page, "itemsPerPage": 100, "Resources": [AWS_USER] * 100})
    page_data = json.loads(page_body)

    loads = per_call_us(lambda: json.loads(body), number, repeat)
    dumps = per_call_us(lambda: json.dumps(data), number, repeat)
    parse = per_call_us(lambda: from_wire(User, data), number, repeat)
    emit = per_call_us(lambda: to_wire(user), number, repeat)
    page_loads = per_call_us(lambda: json.loads(page_body), number // 50 or 1, repeat)
    page_parse = per_call_us(
        lambda: from_wire(ListResponse[User], page_data), number // 50 or 1, repeat
    )

    print(f"body: {len(body)} bytes (aws-scim.md §2.5 full user)")
    print(f"json.loads(body)        {loads:8.2f} µs   (baseline)")
    print(f"from_wire(User, data)   {parse:8.2f} µs   {parse / loads:5.2f}x json.loads")
    print(f"json.dumps(data)        {dumps:8.2f} µs   (baseline)")
    print(f"to_wire(user)           {emit:8.2f} µs   {emit / dumps:5.2f}x json.dumps")
    print(
        f"100-user page: json.loads {page_loads:8.1f} µs, from_wire(ListResponse[User]) "
        f"{page_parse:8.1f} µs = {page_parse / page_loads:5.2f}x"
    )


if __name__ == "__main__":
    main()
