"""POST /api/v1/ingest: batches from hall gateways (lobbywatch/protocol/ingest.py)."""

from __future__ import annotations

import json
import zlib

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from lobbywatch.protocol.codec import errors_from_validation
from lobbywatch.protocol.ingest import INGEST_PATH, IngestBatch, IngestResult
from server.api.deps import CtxDep, GatewayDep
from server.api.errors import ERROR_RESPONSES, ErrorBody
from server.ingest import Conflict, Overloaded

router = APIRouter(tags=["ingest"])


def _gunzip(body: bytes, limit: int) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = d.decompress(body, limit + 1)
    except zlib.error as exc:
        raise HTTPException(400, f"body is not valid gzip: {exc}") from None
    if len(out) > limit or d.unconsumed_tail:
        raise HTTPException(413, f"decompressed body is larger than the {limit}-byte limit")
    return out


@router.post(
    INGEST_PATH,
    response_model=IngestResult,
    summary="Submit a batch of messages from a hall gateway",
    description=(
        "**Role: gateway**, bound to one site; a batch for another site gets 403. JSON body "
        "(`IngestBatch`), optionally `Content-Encoding: gzip`. Answers one result per message, "
        "in order: accepted, duplicate (same id, or same source/epoch/seq) or rejected with a "
        "reason. Any non-200 answer means nothing was stored: resend unchanged. 503 with "
        "`Retry-After` when the server is applying back-pressure."
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IngestBatch"}}},
        }
    },
    responses={**ERROR_RESPONSES, 400: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
async def ingest(request: Request, principal: GatewayDep, ctx: CtxDep) -> Response:
    limit = ctx.settings.ingest.max_body_bytes
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise HTTPException(413, f"request body is larger than the {limit}-byte limit")
    body = bytes(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding == "gzip":
        body = _gunzip(body, limit)
    elif encoding not in ("", "identity"):
        raise HTTPException(415, f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPException(400, f"body is not JSON: {exc}") from None
    try:
        batch = IngestBatch.model_validate(data)
    except ValidationError as exc:
        errors = errors_from_validation(exc)
        raise HTTPException(422, "invalid batch: " + "; ".join(str(e) for e in errors[:10])) from None
    if batch.site not in principal.sites:
        bound = ", ".join(sorted(principal.sites))
        raise HTTPException(403, f"this gateway token is for site {bound}, not {batch.site!r}")
    try:
        result: IngestResult = await run_in_threadpool(ctx.pipeline.process, ctx.db, batch)
    except (Overloaded, Conflict) as exc:
        raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from None
    # Serialised directly: the result is already a validated model (saves a second pass).
    return Response(result.model_dump_json(), media_type="application/json")
