"""Schemathesis hooks for tests/schemathesis.sh.

`before_call` makes every valid generated Idempotency-Key unique. Hypothesis
favours short strings ("0"), so the same key would come back with another
request and be refused, rightly, with 422 IDEMPOTENCY_KEY_REUSED; most valid
creations would then never reach the service. A real client sends a fresh
key per request. Invalid keys are sent as generated.

`before_call` also makes the names of a valid request's `rate_limits`
unique: a key's limits must have distinct names, which JSON Schema cannot
state (`uniqueItems` compares whole items), and Hypothesis favours equal
short strings. Only a repeated name is changed.

`before_call` also keeps `DELETE /users/{id}` off the tester itself:
schemathesis reuses strings it saw in answers, such as `created_by`, and
offboarding the tester would turn every later creation into a 403
USER_OFFBOARDED (right, but the rest of the run would test nothing else).

`filter_failure`: `positive_data_acceptance` holds that a request the
document calls valid is never refused with a 400 or a 422. A few refusals
depend on things no schema can state, so they are dropped here, each only
with its own problem `code` and only from that check; every other check
still judges the same answer (status, content type, headers, body against
the document).

- INVALID_CURSOR: a cursor is valid only if this server issued it.
- SCOPE_NOT_HELD: a key's scopes must be covered by the caller's
  permissions, which live in the token, not in the request.
- EXPIRES_AT_IN_PAST, EXPIRES_AT_TOO_FAR: `expires_at` is bounded relative
  to the server's clock and its `MAX_VALIDITY_DAYS`.

Anything else, including INVALID_EXPIRES_AT for a date-time the document
allows, still fails the run.
"""

import itertools
import json
import os
import re

import schemathesis

# The `sub` of the tester's token (tests/schemathesis.sh sets it).
TESTER = os.environ["SCHEMATHESIS_TESTER_SUB"]

# The server's rule for an Idempotency-Key (the document's pattern).
VALID_IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,255}")
serial = itertools.count()

# The refusals a schema cannot predict (see above).
UNPREDICTABLE_CODES = frozenset(
    {
        "INVALID_CURSOR",
        "SCOPE_NOT_HELD",
        "EXPIRES_AT_IN_PAST",
        "EXPIRES_AT_TOO_FAR",
    }
)


@schemathesis.hook
def before_call(context, case, kwargs):
    """In a valid request: a unique Idempotency-Key, and never the tester offboarded."""
    # An invalid request is refused before its key is looked up, and editing
    # its headers would make schemathesis re-classify it (a request meant to
    # lack `Authorization` would then be sent with it).
    if case.operation.label == "DELETE /users/{id}" and case.path_parameters.get("id") == TESTER:
        case.path_parameters["id"] = TESTER + "-colleague"
    if case.meta is not None and not case.meta.generation.mode.is_positive:
        return
    for name, value in list((case.headers or {}).items()):
        if name.lower() == "idempotency-key" and isinstance(value, str) and VALID_IDEMPOTENCY_KEY.fullmatch(value):
            suffix = f"~{next(serial)}"
            case.headers[name] = value[: 255 - len(suffix)] + suffix
    limits = case.body.get("rate_limits") if isinstance(case.body, dict) else None
    if isinstance(limits, list):
        unique_limit_names(limits)


def unique_limit_names(limits):
    """Renames each rate limit whose name an earlier one has, to the first
    free `l0`, `l1`, ... (free of every name in the list)."""
    entries = [limit for limit in limits if isinstance(limit, dict) and isinstance(limit.get("name"), str)]
    used = {limit["name"] for limit in entries}
    taken = set()
    for limit in entries:
        if limit["name"] in taken:
            limit["name"] = next(f"l{i}" for i in itertools.count() if f"l{i}" not in used)
            used.add(limit["name"])
        taken.add(limit["name"])


def problem_code(response):
    if response.headers.get("content-type", [""])[0] != "application/problem+json":
        return None
    try:
        return json.loads(response.content).get("code")
    except (ValueError, AttributeError):
        return None


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keep every failure except a valid request refused for one of the codes above."""
    if failure.code != "ST202":  # "Schema-valid request rejected" (positive_data_acceptance)
        return True
    return problem_code(response) not in UNPREDICTABLE_CODES
