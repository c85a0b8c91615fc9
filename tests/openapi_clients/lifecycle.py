"""A key's short life through the client openapi-python-client generates
from infra/openapi.yaml, against a live `keyward serve`.

Usage: lifecycle.py BASE_URL TOKEN, with the generated package
`keyward_client` importable (tests/openapi_clients.sh puts it on
PYTHONPATH). Every answer must come back as the generated type its status
documents: a model for 2xx, the one `Problem` (with its `ProblemCode`) for
a documented 4xx. Any mismatch raises, and the script exits non-zero.
"""

import sys

from keyward_client import AuthenticatedClient, Client
from keyward_client.api.account import list_audit
from keyward_client.api.applications import create_application, get_application
from keyward_client.api.keys import create_key, disable_key, get_key, revoke_key
from keyward_client.api.verification import verify_key
from keyward_client.models import (
    Application,
    ApplicationAuditEvent,
    AuditPage,
    CreateApplication,
    CreateKey,
    CreatedKey,
    Key,
    KeyAuditEvent,
    KeyStatus,
    Problem,
    ProblemCode,
    Verdict,
    VerdictCode,
    VerifyRequest,
)


def expect(actual, wanted, what):
    if actual != wanted:
        raise AssertionError(f"{what}: got {actual!r}, wanted {wanted!r}")


def typed(value, kind, what):
    """`value` as the generated `kind`, or a failure naming what came."""
    if not isinstance(value, kind):
        raise AssertionError(f"{what}: got {type(value).__name__} {value!r}, wanted {kind.__name__}")
    return value


def main(base, token):
    # Unexpected statuses raise rather than answer None: every status the
    # server gives here must be one the document lists.
    client = AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True)
    anonymous = Client(base_url=base, raise_on_unexpected_status=True)

    app = typed(
        create_application.sync(
            client=client,
            body=CreateApplication(name="openapi-clients", description="generated client"),
        ),
        Application,
        "POST /applications",
    )
    expect(app.name, "openapi-clients", "the application's name")

    created = typed(
        create_key.sync(app.id, client=client, body=CreateKey(name="lifecycle", scopes=["sims:read"])),
        CreatedKey,
        "POST /applications/{id}/keys",
    )
    key = created.key
    expect(key.status, KeyStatus.ACTIVE, "a new key's status")
    expect(created.secret.startswith(f"{app.key_prefix}_{key.id}"), True, "the secret's form")

    def verify(scopes=None):
        body = VerifyRequest(key=created.secret) if scopes is None else VerifyRequest(key=created.secret, scopes=scopes)
        return typed(verify_key.sync(client=anonymous, body=body), Verdict, "POST /verify")

    verdict = verify(["sims:read"])
    expect((verdict.valid, verdict.code), (True, VerdictCode.VALID), "a live key's verdict")
    expect(verdict.key_id, key.id, "the verdict's key id")
    expect(verify(["sims:write"]).code, VerdictCode.INSUFFICIENT_SCOPE, "a scope the key lacks")

    disabled = typed(disable_key.sync(key.id, client=client), Key, "POST /keys/{id}/disable")
    expect(disabled.status, KeyStatus.DISABLED, "a disabled key's status")
    verdict = verify()
    expect((verdict.valid, verdict.code), (False, VerdictCode.DISABLED), "a disabled key's verdict")

    # Documented 404s (another id) and 401 (no token): the typed Problem.
    for answer, code, what in [
        (get_key.sync("A" * 22, client=client), ProblemCode.KEY_NOT_FOUND, "GET /keys/{another id}"),
        (
            get_application.sync("app_" + "0" * 22, client=client),
            ProblemCode.APPLICATION_NOT_FOUND,
            "GET /applications/{another id}",
        ),
        (get_key.sync(key.id, client=anonymous), ProblemCode.TOKEN_MISSING, "GET /keys/{id} without a token"),
    ]:
        problem = typed(answer, Problem, what)
        expect(problem.code, code, f"{what}: the problem's code")
        expect(problem.type_, "urn:keyward:problem:" + code.value.lower().replace("_", "-"), f"{what}: type")
    detailed = get_key.sync_detailed("A" * 22, client=client)
    expect(detailed.status_code, 404, "the status of GET /keys/{another id}")
    expect(typed(detailed.parsed, Problem, "the parsed 404").status, 404, "the problem's status")

    revoked = typed(revoke_key.sync(key.id, client=client), Key, "POST /keys/{id}/revoke")
    expect(revoked.status, KeyStatus.REVOKED, "a revoked key's status")
    expect(verify().code, VerdictCode.REVOKED, "a revoked key's verdict")

    # The audit log, newest first: each event's views typed by target_type.
    page = typed(list_audit.sync(client=client, limit=100), AuditPage, "GET /audit")
    mine = [(e.action, e) for e in page.items if e.target_id in (app.id, key.id)]
    expect(
        [action for action, _ in mine],
        ["key.revoked", "key.disabled", "key.created", "application.created"],
        "the audit events of this run",
    )
    events = dict(mine)
    created_app = typed(events["application.created"], ApplicationAuditEvent, "application.created")
    expect(created_app.before, None, "application.created's before")
    expect(typed(created_app.after, Application, "application.created's after").name, app.name, "its name")
    disabling = typed(events["key.disabled"], KeyAuditEvent, "key.disabled")
    expect(typed(disabling.before, Key, "key.disabled's before").status, KeyStatus.ACTIVE, "before")
    expect(typed(disabling.after, Key, "key.disabled's after").status, KeyStatus.DISABLED, "after")
    expect(disabling.after.name, "lifecycle", "key.disabled's after.name")
    revoking = typed(events["key.revoked"], KeyAuditEvent, "key.revoked")
    expect(typed(revoking.after, Key, "key.revoked's after").status, KeyStatus.REVOKED, "after")
    print(f"lifecycle through the generated client: {len(mine)} audit events, every answer typed")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
