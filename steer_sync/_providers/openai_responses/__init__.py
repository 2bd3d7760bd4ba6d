"""Translate calls to and from the OpenAI Responses API, ``POST {base}/responses`` (layer L2).

The package is split by job: the shapes and lenient readers (:mod:`._wire`), pure request
building (:mod:`._request`), pure response parsing (:mod:`._response`, with
:func:`._response._describe_http_error`), the stream state machine (:mod:`._stream`), and the
small :class:`OpenAIResponsesProvider` (:mod:`._provider`) over the shared
:class:`~steer_sync._providers._base.HttpProvider`. It follows
``spec/openai-xai.md`` sections 2-4 and steer's ``openai/responses.rs``; where the spec's
section 10 recommends improving on steer, this package does so:

* Q1: ``tool_choice`` is ``"auto"`` (steer sends ``null``); an empty tool list sends neither
  ``tools`` nor ``tool_choice``.
* Q2/Q3: ``top_p`` is sent when configured. ``temperature`` and ``top_p`` are left out when
  ``reasoning`` is sent, because OpenAI's reasoning models reject sampling parameters.
* Q4: ``store`` stays ``false``, so reasoning is kept client-side. Whenever ``reasoning`` is sent
  the request also asks for ``include: ["reasoning.encrypted_content"]`` (steer asks only in
  directive mode). A reasoning item with encrypted content becomes a
  ``SignedThought(summary text, "openai-responses:" + encrypted_content)``, and the next request
  sends it back as ``{"type": "reasoning", "summary": [...], "encrypted_content": ...}`` in its
  original position (without the item ``id``, which a ``store: false`` request must not
  reference). The ``openai-responses:`` prefix marks where the signature came from, so
  signatures from other providers in a mixed history are never sent to OpenAI (OpenAI would
  reject them), and other providers can recognise and skip OpenAI's. Other thoughts are
  dropped, as in steer.
* Assistant content keeps its order: consecutive text/image blocks form one ``message`` item
  and reasoning and ``function_call`` items stay where they were (steer sends all text first,
  then all calls; the two agree for every history steer itself produces).
* Q5: the final streamed response is built from the terminal event's ``response.output`` when
  that list yields content (the same parser as the non-streaming path), else from the deltas
  (the ChatGPT backend sends an empty ``output``).
* Q6: ``response.incomplete`` ends the stream with ``MessageComplete`` carrying what was
  generated and ``stop_reason`` = ``incomplete_details.reason`` (e.g. ``"max_output_tokens"``);
  the non-streaming path reports the same. A completed response has ``stop_reason``
  ``"completed"``.
* Q7/Q8: in-stream errors are classified by ``code`` first, then ``type``; ``server_error`` and
  ``internal_error`` map to a retryable kind (``stream_error`` for ``error`` events,
  ``response_failed`` for ``response.failed``), ``server_is_overloaded`` to ``overloaded_error``;
  unknown codes are not retryable. ``raw_error_type`` keeps the provider's code.
* Q9/Q10: error envelopes with ``code: null`` use their ``message``; usage and all other fields
  are read leniently (missing counts are 0, unknown fields and events are ignored).
  ``cached_tokens`` and ``reasoning_tokens`` fill ``TokenUsage``'s cache-read and reasoning counts.
* Q11: events are dispatched on the SSE ``event:`` name, falling back to the JSON ``type`` when
  the name is missing or ``message``.
* Q12: reasoning summary parts are joined with a blank line (``"\n\n"``) in both paths; the
  stream emits the separator as part of the first delta of each new part.
* Q13/Q14: empty deltas are skipped; a summary ``.done`` event whose key is incomplete is
  de-duplicated against the output item, or against its own text when it has no key at all.
* Q15: initial arguments on ``output_item.added`` and arguments that only a ``.done`` event
  completes are emitted as ``ToolUseInputDelta``, so the deltas always add up.
* Gateways that send only ``output_item.done`` (no deltas) still produce deltas.
* Directive mode: with ``require_streaming``, :meth:`OpenAIResponsesProvider.complete` reads a
  stream instead of raising steer's ``Configuration`` error. The 401/403 retry is the shared
  ``send_with_directive``: a second refusal is raised without asking ``on_auth_error`` again
  (Q27; steer asks the hook again, which forces a second token refresh for nothing).
* Q25: cancellation is uniform (the transport shuts the socket down while sending, waiting
  for headers or reading).
* Q26: :func:`_responses_url` tests suffixes on the URL path (query strings survive) and
  accepts any version segment; a base URL that is not an absolute http(s) URL is a
  ``ConfigurationError`` (steer appends to it blindly).
* Non-streaming reasoning items without a summary fall back to their raw ``content`` text.
* Q30: errors carry the configured provider id; :attr:`OpenAIResponsesProvider.name` stays
  ``"openai"``.
* A stream that ends before a terminal event yields
  ``ErrorChunk(SseParse(TRANSPORT, ...))`` (steer just ends); a non-streaming body whose
  ``status`` is ``"failed"`` raises the same error ``collect()`` would for ``response.failed``.
"""

from steer_sync._providers.openai_responses._provider import OpenAIResponsesProvider

__all__ = ["OpenAIResponsesProvider"]
