"""Anthropic Messages API: requests out, responses and event streams in (layer L2).

This package translates between steer_sync's values (messages, tools, parameters) and the
Messages API (``POST {base_url}/v1/messages``, spec/anthropic-gemini.md Part 1), split by
job: the body's shape (:mod:`._wire`), pure converters (:func:`._request._build_request`,
:func:`._response._parse_response`, :func:`._stream._convert_stream`, tool schemas in
:mod:`._schema`), which are tested without a network, and one public class,
:class:`AnthropicProvider` (:mod:`._provider`), a few lines over the shared
:class:`~steer_sync._providers._base.HttpProvider`. Like every
provider it never sleeps, retries, caches or reads credentials: the client does that.

Behaviour follows steer's ``claude/client.rs`` with every recommendation A1-A18 of spec
section 1.12 adopted:

* A1 ``base_url`` is honoured: ``<base>/v1/messages``; a base ending in ``/v1`` or
  ``/v1/messages`` is not doubled.
* A2 stream usage starts from ``message_start.message.usage`` and is updated by the
  fields ``message_delta.usage`` carries (only ``output_tokens`` is required there).
  ``TokenUsage.input_tokens`` counts *every* prompt token: Anthropic's ``input_tokens``
  (the uncached part) plus ``cache_read_input_tokens`` plus
  ``cache_creation_input_tokens``; the two cache counts are also kept on their own
  fields. ``total_tokens`` is the server's when it sends one, else input + output.
* A3 ``stop_reason`` is recorded on ``CompletionResponse.stop_reason``; a ``max_tokens``
  stop that cut a tool call short is logged.
* A4 tool input JSON that does not parse becomes ``{}`` (as in steer) and is logged.
* A5 ``redacted_thinking`` blocks are kept on the stream path too
  (:class:`RedactedThought`); a thinking block whose signature arrived is a
  :class:`SignedThought`, also when its text is empty (the signature must go back). An
  unsigned thought is never re-sent as text while thinking is enabled (it is dropped).
* A6 an in-stream ``error`` event ends the stream with
  ``ErrorChunk(ProviderStreamError)``.
* A7 a body that ends before ``message_stop`` yields
  ``ErrorChunk(SseParse(TRANSPORT, "stream ended before message_stop"))``.
* A8 the in-stream ``api_error`` type (Anthropic's 500) is classified as the retryable
  ``stream_error`` kind; the raw type is kept in ``raw_error_type``.
* A9 HTTP 529 maps to ``ServerError(529)`` (the client's retry set includes 529).
* A10 error bodies are parsed into ``"{type}: {message} (request id: ...)"``, the id from
  the body's ``request_id`` (the describer sees no headers); a body that is not
  Anthropic-shaped keeps the transport's default summary of the raw body.
* A11 consecutive tool results, and a user message directly after them, are sent as
  one user turn, tool_result blocks first.
* A12 with thinking on, ``temperature`` is 1 (omitted when ``top_p`` is sent, because
  recent models refuse both), ``top_p`` is dropped outside [0.95, 1], ``top_k`` is never
  sent, and ``budget_tokens`` is raised to 1024 and kept below ``max_tokens``; when
  ``max_tokens`` is 1024 or less there is no valid budget, so thinking is turned off for
  that request. Without thinking the default temperature 0.7 is left out when the caller
  sets only ``top_p``.
* A13 cancellation interrupts a blocked read (the transport shuts the socket down).
* A14 an empty ``tools`` list is omitted.
* A15 images in assistant turns are dropped (logged); the API accepts them only from
  the user. User images may use a base64 data URL or a plain URL source.
* A16 thinking blocks are moved to the front of a re-sent assistant turn only when the
  turn does not already start with one, so a received order is sent back unchanged.
* A17 connect/read/idle timeouts come from the transport's ``Timeouts``.
* A18 a tool's root schema is always sent as an object schema (see
  :mod:`._schema`, which also makes ``type: ["null", "string"]`` a string).

Deviations and additions beyond A1-A18:

* Prompt caching puts its message breakpoint on the *last* tool_result block of the final
  message, not on every one: with A11 several results share a turn, and the API allows
  at most four ``cache_control`` blocks per request.
* With an auth directive, the interleaved-thinking beta is merged into the directive's
  ``anthropic-beta`` header (steer relies on the plugin already listing it). Values
  from per-call ``extra_headers`` for ``anthropic-beta`` are merged as well; any other
  header from ``extra_headers`` replaces the provider's own of the same name.
* An assistant turn made only of blocks this adapter drops (images, unsigned thoughts
  with thinking on) is left out instead of failing the call, so a conversation started
  with another provider's model can continue here.
* A thinking block with an empty text but a signature is kept (steer drops thinking
  whose text is empty), and usage that the server does not report at all is ``None``
  rather than zeros.
* ``complete()`` uses the non-streaming endpoint, like steer's provider.
"""

from steer_sync._providers.anthropic._provider import AnthropicProvider

__all__ = ["AnthropicProvider"]
