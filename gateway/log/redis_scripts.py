"""The Lua scripts the Redis log runs: each one call, atomic on the server.

`APPEND` is the whole write path of a batch: for each item it checks the id's idempotency
key, appends to the stream and remembers the id, so two replicas can never both accept one
id, and a `PublishBatch` of 500 is one round trip. Keys (all under one prefix, so one hash
tag in the prefix puts them in one Redis Cluster slot):

- `<prefix>:log`    the stream; entry IDs are the cursors; fields s (sequence), i (id),
                    t (target), b (notification JSON), r (replay-until, seconds or ""),
                    k (receipts: ack-by deadline, seconds or ""),
                    p (the publish's W3C traceparent, or ""; every entry has the same
                    fields in the same order, which lets the stream store their names
                    once per node);
- `<prefix>:seq`    the last sequence number given: consecutive, so a follower that sees
                    a jump knows entries were trimmed before it read them;
- `<prefix>:epoch`  random, set once per store: a cursor from a flushed or replaced
                    Redis names another epoch and replays as incomplete;
- `<prefix>:id:<id>` "<stream id> <fingerprint>", expiring after the idempotency window.

Live delivery: the same call publishes each new entry on the channel of every address it
goes to (`<prefix>:u:<user id>` per user, `<prefix>:t:<topic>`, `<prefix>:e` for everyone),
so what a replica receives live and what the stream holds cannot disagree. The message is
`<n>\n<stream id>\n<name>\n<value>...\n<body>`: the n header items are the stream's
fields (name, value; no value holds a newline), the body is last and taken whole. A field
added to the stream goes into `fields` before the body, and into the message with it.
"""

from __future__ import annotations

__all__ = ["APPEND", "ENSURE_EPOCH", "HEAD"]

#: KEYS: log, seq, epoch. ARGV: epoch candidate, maxlen, max age (ms), window (s), id-key
#: prefix, channel prefix, publish command (PUBLISH, or SPUBLISH on a cluster), then 7 per
#: item: id, fingerprint, target, body, replay-until, receipt-until, traceparent.
#: Returns {epoch, per item "n<id>" (new), "d<id>" (duplicate) or "c<id>" (conflict)}.
APPEND = """
local epoch = redis.call('GET', KEYS[3])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[3], epoch)
end
local maxlen, age_ms, window, idp = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local chp, pub = ARGV[6], ARGV[7]
local seq = tonumber(redis.call('GET', KEYS[2]) or '0')
local out = {epoch}
local added = 0
for i = 8, #ARGV, 7 do
  local key = idp .. ARGV[i]
  local seen = redis.call('GET', key)
  if seen then
    local gap = string.find(seen, ' ', 1, true)
    local kind = 'c'
    if string.sub(seen, gap + 1) == ARGV[i + 1] then kind = 'd' end
    out[#out + 1] = kind .. string.sub(seen, 1, gap - 1)
  else
    seq = seq + 1
    local target = ARGV[i + 2]
    local fields = {'s', seq, 'i', ARGV[i], 't', target, 'r', ARGV[i + 4], 'k', ARGV[i + 5],
      'p', ARGV[i + 6]}
    local head = #fields
    fields[head + 1] = 'b'
    fields[head + 2] = ARGV[i + 3]
    local sid = redis.call('XADD', KEYS[1], 'MAXLEN', '~', maxlen, '*', unpack(fields))
    redis.call('SET', key, sid .. ' ' .. ARGV[i + 1], 'EX', window)
    local message = head .. '\\n' .. sid .. '\\n' .. table.concat(fields, '\\n', 1, head)
      .. '\\n' .. ARGV[i + 3]
    local kind = string.sub(target, 1, 1)
    if kind == 'u' then
      for uid in string.gmatch(string.sub(target, 2), '[^,]+') do
        redis.call(pub, chp .. 'u:' .. uid, message)
      end
    elseif kind == 't' then
      redis.call(pub, chp .. 't:' .. string.sub(target, 2), message)
    else
      redis.call(pub, chp .. 'e', message)
    end
    out[#out + 1] = 'n' .. sid
    added = added + 1
  end
end
if added > 0 then
  redis.call('SET', KEYS[2], seq)
  local now = redis.call('TIME')
  local minid = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - age_ms
  if minid > 0 then
    redis.call('XTRIM', KEYS[1], 'MINID', '~', minid)
  end
end
return out
"""

#: KEYS: epoch. ARGV: candidate. The store's epoch, set to the candidate if it had none.
ENSURE_EPOCH = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
return epoch
"""

#: KEYS: log, epoch. ARGV: epoch candidate. Returns {epoch, newest stream id or "0-0", its
#: sequence number or 0}: where the log ends now (the epoch set if the store had none).
HEAD = """
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[2], epoch)
end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last == 0 then
  return {epoch, '0-0', 0}
end
local seq = 0
local fields = last[1][2]
for j = 1, #fields, 2 do
  if fields[j] == 's' then seq = tonumber(fields[j + 1]) end
end
return {epoch, last[1][1], seq}
"""
