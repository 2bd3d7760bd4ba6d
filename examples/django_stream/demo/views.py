"""The demo's two views: a page, and the answer streamed to it as server-sent events.

With no ``ANTHROPIC_API_KEY`` set, the demo runs against steer_sync's loopback server
(started here, on 127.0.0.1) so it works offline; set the key to talk to Anthropic.
``DEMO_MODEL`` picks another model (any ``provider/model`` or catalog alias).
"""

import os

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.views.decorators.http import require_GET

from steer_sync import Client, Message, RetryPolicy
from steer_sync.contrib.django import WEB_TIMEOUTS, stream_response

DEMO_ANSWER = (
    "Server-sent events let a Django view stream an answer word by word. "
    "The page renders each text event as it arrives, and closes the stream on done."
)

#: One attempt: WEB_TIMEOUTS' 25 s bounds each attempt, and the view must end before
#: gunicorn's 30 s worker timeout.
WEB_RETRIES = RetryPolicy(max_attempts=1)

if os.environ.get("ANTHROPIC_API_KEY"):
    # One client per process, shared by every request thread.
    client = Client.from_env().with_options(timeout=WEB_TIMEOUTS, retry_policy=WEB_RETRIES)
else:
    from steer_sync.testing import LoopbackServer, Turn

    _provider = LoopbackServer(
        default=Turn(thinking="The user wants a demo.", text=DEMO_ANSWER, usage=(21, 34), delay=0.03)
    ).start()
    client = _provider.client().with_options(timeout=WEB_TIMEOUTS, retry_policy=WEB_RETRIES)
    print(f"demo mode: no ANTHROPIC_API_KEY, answers come from a loopback provider at {_provider.url}")

MODEL = os.environ.get("DEMO_MODEL", "anthropic/claude-sonnet-4-5")


@require_GET
def answer(request: HttpRequest) -> HttpResponse:
    question = request.GET.get("q", "").strip()
    if not question:
        return HttpResponseBadRequest("ask something: /answer?q=...")
    # Failures before any output (bad key, rate limit) raise here, as a 500 page;
    # later ones arrive as an "error" event.
    stream = client.stream_complete(MODEL, [Message.user(question)])
    response: StreamingHttpResponse = stream_response(stream, heartbeat=10.0)
    return response


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>steer_sync streaming demo</title>
<style>
  body { font: 18px/1.5 sans-serif; max-width: 46em; margin: 2em auto; color: #222; }
  #thinking { color: #777; font-style: italic; }
  #answer { white-space: pre-wrap; border-left: 4px solid #3b82f6; padding-left: 1em; min-height: 3em; }
  #status { color: #555; font-size: 14px; }
  .error { color: #b91c1c; }
</style>
</head>
<body>
<h1>steer_sync streaming demo</h1>
<form id="ask"><input id="q" name="q" size="50" value="Explain server-sent events">
<button>Ask</button></form>
<p id="thinking"></p>
<div id="answer"></div>
<p id="status">idle</p>
<script>
function ask(question) {
  const answer = document.getElementById("answer");
  const thinking = document.getElementById("thinking");
  const status = document.getElementById("status");
  answer.textContent = ""; thinking.textContent = ""; status.textContent = "streaming...";
  status.className = "";
  const source = new EventSource("/answer?q=" + encodeURIComponent(question));
  source.addEventListener("thinking", (e) => { thinking.textContent += JSON.parse(e.data).text; });
  source.addEventListener("text", (e) => { answer.textContent += JSON.parse(e.data).text; });
  source.addEventListener("reset", () => { answer.textContent = ""; thinking.textContent = ""; });
  source.addEventListener("tool_use", (e) => { answer.textContent += "\\n[tool " + JSON.parse(e.data).name + "]"; });
  // Close on the final event: an EventSource reconnects (and asks again) when a response ends.
  source.addEventListener("done", (e) => {
    const d = JSON.parse(e.data);
    const usage = d.usage ? d.usage.input_tokens + " in / " + d.usage.output_tokens + " out tokens" : "no usage";
    status.textContent = "done (" + d.stop_reason + ", " + usage + ")";
    source.close();
  });
  source.addEventListener("error", (e) => {
    if (e.data) {
      const d = JSON.parse(e.data);
      status.textContent = "failed: " + d.message + (d.retryable ? " (try again)" : "");
    } else {
      status.textContent = "connection lost";
    }
    status.className = "error";
    source.close();
  });
}
document.getElementById("ask").addEventListener("submit", (e) => {
  e.preventDefault(); ask(document.getElementById("q").value);
});
const initial = new URLSearchParams(location.search).get("q");
if (initial) { document.getElementById("q").value = initial; ask(initial); }
</script>
</body>
</html>
"""


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse(PAGE)
