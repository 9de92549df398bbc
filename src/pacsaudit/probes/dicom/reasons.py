"""Result, source and reason codes of the Upper Layer, in words (PS3.8 Tables 9-21 and 9-26).

Reports and users act on words ("called AE title not recognized"); the codes stay beside them in
the result for tools that prefer numbers.
"""

from __future__ import annotations

from pacsaudit.model import AbortInfo, RejectInfo

REJECT_RESULTS = {1: "rejected-permanent", 2: "rejected-transient"}
REJECT_SOURCES = {
    1: "service-user",
    2: "service-provider-acse",
    3: "service-provider-presentation",
}
REJECT_REASONS: dict[int, dict[int, str]] = {
    1: {
        1: "no-reason-given",
        2: "application-context-name-not-supported",
        3: "calling-ae-title-not-recognized",
        7: "called-ae-title-not-recognized",
    },
    2: {1: "no-reason-given", 2: "protocol-version-not-supported"},
    3: {1: "temporary-congestion", 2: "local-limit-exceeded"},
}
ABORT_SOURCES = {0: "service-user", 1: "reserved", 2: "service-provider"}
ABORT_REASONS = {
    0: "reason-not-specified",
    1: "unrecognized-pdu",
    2: "unexpected-pdu",
    4: "unrecognized-pdu-parameter",
    5: "unexpected-pdu-parameter",
    6: "invalid-pdu-parameter-value",
}
CONTEXT_RESULTS = {
    0: "acceptance",
    1: "user-rejection",
    2: "no-reason",
    3: "abstract-syntax-not-supported",
    4: "transfer-syntaxes-not-supported",
}

CALLING_AE_NOT_RECOGNIZED = (1, 3)
CALLED_AE_NOT_RECOGNIZED = (1, 7)


def _word(table: dict[int, str], code: int) -> str:
    return table.get(code, f"unknown-{code}")


def reject_info(result: int, source: int, reason: int) -> RejectInfo:
    reasons = REJECT_REASONS.get(source, {})
    return RejectInfo(
        result=_word(REJECT_RESULTS, result),
        source=_word(REJECT_SOURCES, source),
        reason=_word(reasons, reason),
        result_code=result,
        source_code=source,
        reason_code=reason,
    )


def abort_info(source: int, reason: int) -> AbortInfo:
    # The reason is significant only when the service provider aborted (PS3.8 9.3.8).
    word = _word(ABORT_REASONS, reason) if source == 2 else "not-significant"
    return AbortInfo(
        source=_word(ABORT_SOURCES, source), reason=word, source_code=source, reason_code=reason
    )


def context_result(code: int) -> str:
    return _word(CONTEXT_RESULTS, code)
