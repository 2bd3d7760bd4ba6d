"""Google Gemini ``generateContent`` / ``streamGenerateContent`` wire format (layer L2).

Translates steer_sync's messages, tools and parameters into a Gemini request body, and Gemini's
answers (one JSON object, or ``alt=sse`` events that each hold a whole
``GenerateContentResponse`` fragment) back into a :class:`CompletionResponse` or stream chunks.
Behaviour follows steer's ``api/gemini/client.rs`` (spec/anthropic-gemini.md part 2); every
recommendation G1-G16 of section 2.9 is adopted (refinements under "Deviations"). The pure parts are
:func:`._request._build_request`, :func:`._response._parse_response` and
:func:`._stream._convert_stream` (tool schemas in :mod:`._schema`); :class:`GeminiProvider`
(:mod:`._provider`) only sends, over the shared :class:`~steer_sync._providers._base.HttpProvider`.

Endpoints and auth
    ``POST {base}/models/{model}:generateContent`` and ``...:streamGenerateContent?alt=sse``,
    with ``base`` the constructor's ``base_url`` (default
    ``https://generativelanguage.googleapis.com/v1beta``). The model id is percent-encoded as one
    path segment (a leading ``models/`` is dropped); the key travels in the ``x-goog-api-key``
    header, never in the URL (G8, G14).

Thought signatures (G10, 2.10)
    Gemini attaches an opaque ``thoughtSignature`` to a part (a function call, a text part, an
    empty trailing text part, ...) and wants it back on the same part. A function call keeps it
    on :attr:`ToolCallContent.thought_signature`. For every other part the signature is carried
    by a ``SignedThought(text="", signature=...)`` block placed immediately *before* the block it
    belongs to (the next text, thought or image block), or last when it arrived on an empty
    trailing part. When the history is sent back, that empty ``SignedThought`` puts its
    signature on the part built from the next block (a trailing one goes to the previous part
    without a signature). A ``SimpleThought`` right after such a carrier goes back as a
    ``{"thought": true}`` part; other thoughts are not sent, as in steer: unsigned Gemini
    thoughts carry nothing the model uses, and a ``SignedThought`` *with* text comes from
    another provider, whose signature Gemini would reject ("Corrupted thought signature").
    On Gemini 3 (which rejects replayed function calls without a signature), a model turn whose
    calls carry no signature at all (written by hand, or by another provider) gets Google's
    documented ``skip_thought_signature_validator`` sentinel on its first call.

Function-call ids (G13)
    ``functionCall.id`` is kept when Gemini sends one. Otherwise an id ``"gcall_" + 32 hex
    digits`` (random) is generated; ids with that prefix are never sent back to Gemini, others
    are echoed in ``functionCall.id`` and ``functionResponse.id`` (G1).

Tool results (G1, G2, G3)
    Consecutive tool results become one ``user`` content of ``functionResponse`` parts, in the
    order of the calls they answer. ``functionResponse.name`` is the *function* name (looked up
    from the call in the history; else the result's ``tool_name``; else the call id, steer's
    value). ``response`` is steer's ``{"content": <ToolResult JSON>}``, or
    ``{"content": "Error: ..."}`` for a failure.

Request shape (G7, G12)
    Roles are ``user`` and ``model`` only. Blank text parts are not sent and a content left
    with no parts is dropped. ``generationConfig`` always carries ``maxOutputTokens`` (default
    65536), ``temperature`` (1.0) and ``topP`` (0.95), like steer. Thinking: on Gemini 3 models
    (``gemini-3*`` and later) ``effort`` becomes ``thinkingLevel`` (low -> ``low``, medium ->
    ``medium`` on Flash models and ``high`` elsewhere, high and x-high -> ``high``); without an
    effort the ``budget_tokens`` is sent as ``thinkingBudget`` (the catalog's gemini-3-pro entry
    has only a budget). On older models ``budget_tokens`` is the ``thinkingBudget``. Thinking
    disabled sends ``thinkingBudget: 0`` to Gemini 2.5 Flash models, ``thinkingLevel:
    "minimal"`` to Gemini 3 Flash and ``"low"`` to other Gemini 3 models (they cannot turn it
    off), and nothing elsewhere (2.5 Pro cannot turn it off; older models have no thinking).
    Tool schemas: see ``_schema`` (G6, G16).

Parsing (G4, G5, G9, G11)
    Lenient in both paths, which share one fold (:class:`_Assembler`): unknown enum values are
    kept as strings, ``content``/``parts``/``args`` may be missing, unknown parts are skipped one
    by one. Thoughts (``thought: true``) become ``SimpleThought`` / ``ThinkingDelta``.
    Consecutive text (or thought) parts are merged into one block unless a signature starts a
    new one. ``executableCode`` and ``codeExecutionResult`` become fenced text blocks; inline
    and file data become :class:`ImageContent` for ``image/*`` types and a placeholder text
    otherwise (streamed as text deltas too, unlike steer). ``stop_reason`` is Gemini's
    ``finishReason``. ``complete()`` raises :class:`RequestBlocked` for
    ``promptFeedback.blockReason`` and for a blocking finish reason (SAFETY, RECITATION,
    BLOCKLIST, PROHIBITED_CONTENT, SPII, IMAGE_SAFETY, ...), also when part of an answer came
    first; :class:`NoChoices` when there is no candidate (never wrapped, unlike steer).

Usage
    ``input_tokens`` = ``promptTokenCount`` + ``toolUsePromptTokenCount``; ``output_tokens`` =
    ``candidatesTokenCount`` + ``thoughtsTokenCount`` (so, as for every provider, output
    includes reasoning, and input + output = ``totalTokenCount``; steer left thoughts out of the
    output); ``reasoning_tokens`` = ``thoughtsTokenCount``; ``cache_read_input_tokens`` =
    ``cachedContentTokenCount``. A missing side is derived from the total as in steer. In a
    stream the last reported usage wins (``promptTokenCount`` can change between chunks).

Streams
    ``MessageComplete`` comes at the end of the body, once a candidate has reported a
    ``finishReason``. A body that ends without one ends with
    ``ErrorChunk(SseParse(TRANSPORT, ...))`` (retryable: the answer was cut off; steer reported
    the truncated answer as complete). An ``{"error": {...}}`` object inside the stream ends it
    with ``ErrorChunk(ProviderStreamError)``: ``RESOURCE_EXHAUSTED`` -> ``rate_limit_exceeded``,
    ``UNAVAILABLE`` -> ``service_unavailable_error``, ``INTERNAL``/``ABORTED`` ->
    ``stream_error``, ``DEADLINE_EXCEEDED`` -> ``timeout_error`` (all retryable); anything else
    keeps Google's status as a non-retryable kind. A blocked prompt or answer ends the stream
    with ``ErrorChunk(ProviderStreamError(kind="request_blocked", raw_error_type=
    "request_blocked"))``, not retryable; ``collect()`` turns it into ``RequestBlocked`` once
    ``_stream.stream_error_to_api_error`` maps that raw type. Unparseable events are skipped,
    as in steer.

HTTP errors
    Google's error body ``{"error": {"code", "message", "status", "details"}}`` is summarised as
    ``"<message> [<status>, <reason>]"``. A 400 whose ``ErrorInfo.reason`` is
    ``API_KEY_INVALID`` (Gemini's answer to a wrong key) raises :class:`AuthenticationFailed`
    (status 400), so the user learns the key is wrong and the client drops the cached provider.
    ``RetryInfo.retryDelay`` becomes ``retry_after``.

Deviations and refinements (beyond steer, and where the recommendations were not enough)
    * G4: a blocking finish reason is ``RequestBlocked`` even when part of the answer was
      already produced (the answer is cut; returning it as a normal response would hide that).
    * G7: the one empty text part ever sent is a lone trailing signature with no unsigned part
      before it to carry it (rare; dropping it would lose the signature).
    * G10: thought text goes back only for Gemini's own signed thoughts (see above), because
      a foreign signature makes Gemini refuse the whole request.
    * G11: the non-streaming path also merges consecutive text parts (steer kept one block per
      part), so both paths give the same content for the same parts.
    * G12: Gemini 3 cannot turn thinking off; "disabled" asks for its lowest level instead.
    * 2.10 ("likely"): ``functionResponse.response`` keeps steer's ``content`` key rather than
      ``output``/``error``; Gemini treats any object as the output, and steer's live tests pass.
    * Not in the list: no ``tools`` for an empty tool list and no ``parameters`` for a tool
      without properties (Gemini rejects both), and the Gemini 3 signature sentinel above.
"""

from steer_sync._providers.gemini._provider import GeminiProvider

__all__ = ["GeminiProvider"]
