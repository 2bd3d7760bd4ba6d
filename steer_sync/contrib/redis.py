"""A rate limiter shared by every process and machine that uses the same Redis (layer L4).

Needs the extra ``steer-sync[redis]`` (redis-py). The budgets live in one Redis hash per key
(``{key_prefix}:ratelimit:{provider or model}``) and are changed only by server-side Lua
scripts, each one atomic: booking a turn, giving it back, settling tokens and applying a
provider's headers never read a value in Python and write it back, so no two workers can
both take the last turn. The scripts use the Redis server's clock (``TIME``), so machines
with skewed clocks still share one timeline. Waiting for a turn happens in the calling
thread, on the call's cancellation token.

The arithmetic is the one ``steer_sync.LocalRateLimiter`` uses (GCRA, a burst of about one
second's share, plus the provider's reported window), so one process behaves the same with
either.
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple
from urllib.parse import urlsplit

import redis

from steer_sync._errors import NetworkError
from steer_sync._ratelimit import RateLimiter, RateLimitObservation

__all__ = ["RedisRateLimiter"]

# Shared by every script: load the hash, compute per-dimension intervals, save with a TTL.
_PRELUDE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local dims = {'req', 'tok'}
local configured = {req = tonumber(ARGV[1]), tok = tonumber(ARGV[2])}
local state = {}
local raw = redis.call('HGETALL', KEYS[1])
for i = 1, #raw, 2 do state[raw[i]] = tonumber(raw[i + 1]) end
local function get(name) return state[name] or 0 end
local function interval(dim)
  local rate = configured[dim]
  local learned = state[dim .. '_learned']
  if rate ~= nil and rate <= 0 then rate = nil end
  if learned ~= nil and learned > 0 and (rate == nil or learned < rate) then rate = learned end
  if rate == nil then return nil end
  return 60.0 / rate
end
local function save()
  local fields = {}
  local horizon = now
  for name, value in pairs(state) do
    fields[#fields + 1] = name
    fields[#fields + 1] = string.format('%.6f', value)
    if string.sub(name, -4) == '_tat' or string.sub(name, -5) == '_wend' then
      if value > horizon then horizon = value end
    end
  end
  if #fields > 0 then
    redis.call('HSET', KEYS[1], unpack(fields))
    redis.call('EXPIRE', KEYS[1], math.ceil(horizon - now) + 120)
  end
end
"""

# ARGV: rpm, tpm, tokens, max_wait (negative: none). Returns the wait, or "refused <wait>"
# when it is longer than max_wait (then nothing is booked).
_RESERVE = (
    _PRELUDE
    + """
local costs = {req = 1, tok = tonumber(ARGV[3])}
local max_wait = tonumber(ARGV[4])
local wait = 0.0
local plan = {}
local windows = {}
for _, dim in ipairs(dims) do
  local cost = costs[dim]
  if get(dim .. '_wend') > now then
    if get(dim .. '_wleft') >= cost then
      windows[#windows + 1] = dim
    else
      wait = math.max(wait, get(dim .. '_wend') - now)
    end
  end
  local step = interval(dim)
  if step ~= nil and cost > 0 then
    local burst = math.max(1.0, 1.0 / step)
    local tat = math.max(get(dim .. '_tat'), now)
    wait = math.max(wait, tat - math.max(burst - cost, 0.0) * step - now)
    plan[#plan + 1] = {dim, tat + cost * step}
  end
end
if max_wait >= 0 and wait > max_wait then return 'refused ' .. string.format('%.6f', wait) end
for _, item in ipairs(plan) do state[item[1] .. '_tat'] = item[2] end
for _, dim in ipairs(windows) do state[dim .. '_wleft'] = get(dim .. '_wleft') - costs[dim] end
save()
if wait < 0.000001 then wait = 0.0 end
return string.format('%.6f', wait)
"""
)

# ARGV: rpm, tpm, tokens. Gives a booking back (its caller was cancelled while waiting).
_RELEASE = (
    _PRELUDE
    + """
local costs = {req = 1, tok = tonumber(ARGV[3])}
for _, dim in ipairs(dims) do
  local step = interval(dim)
  if step ~= nil and costs[dim] > 0 and state[dim .. '_tat'] ~= nil then
    state[dim .. '_tat'] = math.max(get(dim .. '_tat') - costs[dim] * step, now)
  end
end
save()
return 'ok'
"""
)

# ARGV: rpm, tpm, delta tokens (negative refunds).
_ADJUST = (
    _PRELUDE
    + """
local step = interval('tok')
if step ~= nil then
  state['tok_tat'] = math.max(math.max(get('tok_tat'), now) + tonumber(ARGV[3]) * step, now)
  save()
end
return 'ok'
"""
)

# ARGV: rpm, tpm, then groups of four: dimension ('req'/'tok'), remaining, reset, limit ('' = unknown).
_TIGHTEN = (
    _PRELUDE
    + """
for i = 3, #ARGV, 4 do
  local dim = ARGV[i]
  local remaining = tonumber(ARGV[i + 1])
  local reset = tonumber(ARGV[i + 2])
  local limit = tonumber(ARGV[i + 3])
  if limit ~= nil and limit > 0 then
    local rate = configured[dim]
    if rate == nil or rate <= 0 or limit < rate then state[dim .. '_learned'] = limit end
  end
  if remaining ~= nil and reset ~= nil and reset > 0 then
    local wend = now + reset
    if remaining < 1 then wend = math.max(wend, get(dim .. '_wend')) end
    state[dim .. '_wend'] = wend
    state[dim .. '_wleft'] = remaining
  end
end
save()
return 'ok'
"""
)

_DIMENSION_CODES = {"requests": "req", "tokens": "tok"}


def _text(value: Optional[float]) -> str:
    return "" if value is None else repr(float(value))


class RedisRateLimiter(RateLimiter):
    """A rate limiter whose budgets live in Redis, shared by every process and machine.

    Every client that uses the same Redis, ``key_prefix`` and limits shares one budget per
    provider (or per model): 3 machines with 8 workers each stay, together, under the
    provider's quota. Each decision is one atomic server-side script call (one round trip
    per attempt, plus one when the usage is settled and one when a response carries
    rate-limit headers).

    Thread-safe and fork-safe: redis-py's connection pool is shared by threads and
    re-created in a forked child. The limiter owns that pool; :meth:`close` releases it.

    Usage::

        from steer_sync import Client
        from steer_sync.contrib.redis import RedisRateLimiter

        limiter = RedisRateLimiter("redis://redis.internal:6379/0", requests_per_minute=500)
        client = Client.from_env(rate_limiter=limiter)

    :param url: a redis-py URL (``redis://host:port/db``, ``rediss://`` for TLS,
        ``unix:///path``); a password in it is never shown in messages.
    :param requests_per_minute: the request budget per key, or ``None``.
    :param tokens_per_minute: the token budget per key, or ``None``.
    :param per: ``"provider"`` or ``"model"``.
    :param key_prefix: the prefix of the Redis keys (separate applications, separate budgets).
    :param client: an existing ``redis.Redis`` to use instead of connecting to ``url``.
    """

    def __init__(
        self,
        url: str,
        *,
        requests_per_minute: Optional[float] = None,
        tokens_per_minute: Optional[float] = None,
        per: str = "provider",
        key_prefix: str = "steer_sync",
        client: Optional[Any] = None,
    ) -> None:
        super().__init__(requests_per_minute=requests_per_minute, tokens_per_minute=tokens_per_minute, per=per)
        if not isinstance(url, str) or not url:
            raise ValueError("url must be a Redis URL such as 'redis://localhost:6379/0'")
        parts = urlsplit(url)
        #: Where the budgets live, without any password (for messages and repr).
        self.location = f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"
        #: The prefix of every key this limiter writes.
        self.key_prefix = key_prefix
        self._redis: Any = client if client is not None else redis.Redis.from_url(url)
        self._reserve_script = self._redis.register_script(_RESERVE)
        self._release_script = self._redis.register_script(_RELEASE)
        self._adjust_script = self._redis.register_script(_ADJUST)
        self._tighten_script = self._redis.register_script(_TIGHTEN)

    def close(self) -> None:
        """Release the Redis connections (the budgets stay in Redis)."""
        self._redis.close()

    def _redis_key(self, key: str) -> str:
        return f"{self.key_prefix}:ratelimit:{key}"

    def _limits(self) -> List[str]:
        return [_text(self.requests_per_minute), _text(self.tokens_per_minute)]

    def _run(self, script: Any, key: str, args: List[str]) -> str:
        try:
            result = script(keys=[self._redis_key(key)], args=self._limits() + args)
        except redis.RedisError as error:
            # Retryable by the client's policy, like any other network failure.
            raise NetworkError(
                details=f"the rate limiter's Redis at {self.location} failed: {type(error).__name__}: {error}",
                provider=key.split("/", 1)[0],
            ) from None
        return result.decode() if isinstance(result, bytes) else str(result)

    def _reserve(self, key: str, tokens: int, max_wait: Optional[float]) -> Tuple[bool, float]:
        answer = self._run(self._reserve_script, key, [str(tokens), _text(max_wait) or "-1"])
        if answer.startswith("refused "):
            return False, float(answer.split()[1])
        return True, float(answer)

    def _release(self, key: str, tokens: int) -> None:
        self._run(self._release_script, key, [str(tokens)])

    def _adjust(self, key: str, delta_tokens: int) -> None:
        self._run(self._adjust_script, key, [str(delta_tokens)])

    def _tighten(self, key: str, observations: List[RateLimitObservation]) -> None:
        args: List[str] = []
        for seen in observations:
            args += [_DIMENSION_CODES[seen.dimension], _text(seen.remaining), _text(seen.reset), _text(seen.limit)]
        self._run(self._tighten_script, key, args)

    def __repr__(self) -> str:
        return (
            f"RedisRateLimiter({self.location!r}, requests_per_minute={self.requests_per_minute!r}, "
            f"tokens_per_minute={self.tokens_per_minute!r}, per={self.per!r}, key_prefix={self.key_prefix!r})"
        )
