"""The Lua scripts of the Redis receipt store: each change is one atomic call, so two
replicas applying acks for one user, or both sweeping one deadline, count it once.

Keys, all under `<prefix>:rc` (written `P` here; one hash tag in the prefix puts them in
one Redis Cluster slot, as the log's keys):

- `P:n:<id>`   hash, one per tracked notification: `y` type, `c` cursor, `a` its ack
               position, `p` published (ms), `d` deadline (ms or ""), `k` kind (u, t, e),
               `o` topic; per addressed user `u:<user>` = "<s>|<delivered ms>|<read ms>|
               <undelivered ms>" with s one of p, d, r, x (pending, delivered, read,
               undelivered); for a broadcast `cap` = 1 once the counted users hit the bound
- `P:a:<id>`, `P:r:<id>`  sets: a broadcast's acking / reading users (bounded)
- `P:w:<user>` sorted set by text "<position>|<id>": what still waits for this user's ack
- `P:b`        sorted set by text "<position>|<id>": tracked broadcasts
- `P:i`        sorted set, published ms → id: the order in which records are forgotten
- `P:dl`       sorted set, deadline ms → id
- `P:f`        stream: the feed (fields i id, y type, u user, s state, t at ms)
- `P:k:<user>`, `P:kb`  sorted sets by text: recent acks' ranges (see `early_ranges`)
Every key expires a minute after `max_age`, so nothing outlives the bound even if no
later call cleans up after it.
"""

from __future__ import annotations

__all__ = ["APPLY", "EXPIRE", "TRACK"]

_COMMON = """
local P = ARGV[1]
local now = ARGV[2]  -- text: written into fields as given
local ttl = tonumber(ARGV[3])
local feed_size = ARGV[4]

local function feed(id, typ, user, state)
  redis.call('XADD', P .. ':f', 'MAXLEN', '~', feed_size, '*',
    'i', id, 'y', typ, 'u', user, 's', state, 't', now)
end

local function parse(st)
  return string.match(st, '^(%a)|([^|]*)|([^|]*)|([^|]*)$')
end

local function topic_set(csv)
  local set = {}
  for t in string.gmatch(csv, '[^,]+') do set[t] = true end
  return set
end

local function id_of(member)
  return string.sub(member, string.find(member, '|', 1, true) + 1)
end

-- a broadcast's acking (or reading) users, counted once each up to `max_counted`
local function count_in(set_key, key, user, max_counted)
  if redis.call('SISMEMBER', set_key, user) == 1 then return false end
  if redis.call('SCARD', set_key) >= max_counted then
    redis.call('HSET', key, 'cap', 1)
    return false
  end
  redis.call('SADD', set_key, user)
  redis.call('EXPIRE', set_key, ttl)
  return true
end

-- Acks that may overtake the TRACK of what they cover (another replica's client acking
-- a notification's live message before the publishing replica's TRACK lands): each
-- ack's range is remembered for EARLY_SECONDS, per user for notifications to users
-- (`P:k:<user>`, the 16 newest) and in one set for broadcasts (`P:kb`, the newest
-- EARLY_BROADCASTS), by its upper end so that a TRACK at position `at` reads only the
-- ranges that end at or after it. Members: hi, lo, ack ms (and topics csv, user),
-- separated by tabs (which no position, identifier or topic holds).
local EARLY_SECONDS = 60
local EARLY_BROADCASTS = 10000
local function early_ranges(key, at)
  return redis.call('ZRANGEBYLEX', key, '[' .. at, '+', 'LIMIT', 0, 1000)
end
"""

#: ARGV: P, now ms, ttl s, feed size, max tracked, max age ms, max counted users, then 8
#: per item: id, position, kind, topic, type, cursor, deadline ms or "", users (comma-
#: separated). Returns {ack ms, item index from 0} per user an earlier ack covered.
TRACK = (
    _COMMON
    + """
local max_tracked = tonumber(ARGV[5])
local age = tonumber(ARGV[6])
local max_counted = tonumber(ARGV[7])
local out = {}

local function forget(id)
  local key = P .. ':n:' .. id
  local fields = redis.call('HGETALL', key)
  local at, kind = nil, nil
  for i = 1, #fields, 2 do
    if fields[i] == 'a' then at = fields[i + 1] end
    if fields[i] == 'k' then kind = fields[i + 1] end
  end
  if at then
    local member = at .. '|' .. id
    if kind == 'u' then
      for i = 1, #fields, 2 do
        if string.sub(fields[i], 1, 2) == 'u:' then
          redis.call('ZREM', P .. ':w:' .. string.sub(fields[i], 3), member)
        end
      end
    else
      redis.call('ZREM', P .. ':b', member)
    end
  end
  redis.call('DEL', key, P .. ':a:' .. id, P .. ':r:' .. id)
  redis.call('ZREM', P .. ':dl', id)
end

for i = 8, #ARGV, 8 do
  local id, at, kind = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local key = P .. ':n:' .. id
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, 'y', ARGV[i + 4], 'c', ARGV[i + 5], 'a', at, 'p', now,
      'd', ARGV[i + 6], 'k', kind, 'o', ARGV[i + 3])
    local member = at .. '|' .. id
    if kind == 'u' then
      for user in string.gmatch(ARGV[i + 7], '[^,]+') do
        local acked = nil
        for _, range in ipairs(early_ranges(P .. ':k:' .. user, at)) do
          local _, lo, ack = string.match(range, '^([^\t]*)\t([^\t]*)\t([^\t]*)$')
          if lo < at then acked = ack break end
        end
        if acked then  -- acked before this TRACK: delivered then
          redis.call('HSET', key, 'u:' .. user, 'd|' .. acked .. '||')
          redis.call('XADD', P .. ':f', 'MAXLEN', '~', feed_size, '*',
            'i', id, 'y', ARGV[i + 4], 'u', user, 's', 'delivered', 't', acked)
          out[#out + 1] = acked
          out[#out + 1] = (i - 8) / 8
        else
          redis.call('HSET', key, 'u:' .. user, 'p|||')
          local waiting = P .. ':w:' .. user
          redis.call('ZADD', waiting, 0, member)
          redis.call('EXPIRE', waiting, ttl)
        end
      end
      if ARGV[i + 6] ~= '' then
        redis.call('ZADD', P .. ':dl', tonumber(ARGV[i + 6]), id)
      end
    else
      redis.call('ZADD', P .. ':b', 0, member)
      local topic = ARGV[i + 3]
      for _, range in ipairs(early_ranges(P .. ':kb', at)) do
        local _, lo, ack, topics, user =
          string.match(range, '^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$')
        if lo < at and (kind ~= 't' or topic_set(topics)[topic])
            and count_in(P .. ':a:' .. id, key, user, max_counted) then
          out[#out + 1] = ack
          out[#out + 1] = (i - 8) / 8
        end
      end
    end
    redis.call('EXPIRE', key, ttl)
    redis.call('ZADD', P .. ':i', now, id)
  end
end
for _, key in ipairs({':b', ':i', ':dl', ':f'}) do redis.call('EXPIRE', P .. key, ttl) end
while redis.call('ZCARD', P .. ':i') > max_tracked do
  local oldest = redis.call('ZPOPMIN', P .. ':i')
  forget(oldest[1])
end
local old = redis.call('ZRANGEBYSCORE', P .. ':i', '-inf', tonumber(now) - age, 'LIMIT', 0, 1000)
for _, id in ipairs(old) do
  redis.call('ZREM', P .. ':i', id)
  forget(id)
end
return out
"""
)

#: ARGV: P, now ms, ttl s, feed size, max counted users, number of acks, then 4 per ack
#: (user, topics csv, floor position, upto position), then 3 per read (user, topics
#: csv, id). Returns {reads refused, then published ms and type of each newly delivered}.
APPLY = (
    _COMMON
    + """
local max_counted = tonumber(ARGV[5])
local n_acks = tonumber(ARGV[6])
local out = {0}


local first_read = 7 + 4 * n_acks
for i = 7, first_read - 1, 4 do
  local user, topics = ARGV[i], nil
  local lo = '(' .. ARGV[i + 2] .. '}'
  if ARGV[i + 2] == '' then lo = '-' end
  local hi = '(' .. ARGV[i + 3] .. '}'
  local early = P .. ':k:' .. user
  redis.call('ZADD', early, 0, ARGV[i + 3] .. '\t' .. ARGV[i + 2] .. '\t' .. now)
  if redis.call('ZCARD', early) > 16 then redis.call('ZREMRANGEBYRANK', early, 0, -17) end
  redis.call('EXPIRE', early, EARLY_SECONDS)
  redis.call('ZADD', P .. ':kb', 0,
    ARGV[i + 3] .. '\t' .. ARGV[i + 2] .. '\t' .. now .. '\t' .. ARGV[i + 1] .. '\t' .. user)
  local waiting = P .. ':w:' .. user
  for _, member in ipairs(redis.call('ZRANGEBYLEX', waiting, lo, hi, 'LIMIT', 0, 1000)) do
    redis.call('ZREM', waiting, member)
    local id = id_of(member)
    local key = P .. ':n:' .. id
    local st = redis.call('HGET', key, 'u:' .. user)
    if st then
      local s, _, _, x = parse(st)
      if s == 'p' or s == 'x' then
        redis.call('HSET', key, 'u:' .. user, 'd|' .. now .. '||' .. x)
        local meta = redis.call('HMGET', key, 'y', 'p')
        feed(id, meta[1], user, 'delivered')
        out[#out + 1] = meta[2]
        out[#out + 1] = meta[1]
      end
    end
  end
  for _, member in ipairs(redis.call('ZRANGEBYLEX', P .. ':b', lo, hi, 'LIMIT', 0, 1000)) do
    local id = id_of(member)
    local key = P .. ':n:' .. id
    local meta = redis.call('HMGET', key, 'k', 'o', 'p', 'y')
    if not meta[1] then
      redis.call('ZREM', P .. ':b', member)
    else
      if meta[1] == 't' and topics == nil then topics = topic_set(ARGV[i + 1]) end
      if (meta[1] ~= 't' or topics[meta[2]])
          and count_in(P .. ':a:' .. id, key, user, max_counted) then
        out[#out + 1] = meta[3]
        out[#out + 1] = meta[4]
      end
    end
  end
end

if n_acks > 0 then
  local kb = P .. ':kb'
  if redis.call('ZCARD', kb) > EARLY_BROADCASTS then
    redis.call('ZREMRANGEBYRANK', kb, 0, -EARLY_BROADCASTS - 1)
  end
  redis.call('EXPIRE', kb, EARLY_SECONDS)
end

for i = first_read, #ARGV, 3 do
  local user, id = ARGV[i], ARGV[i + 2]
  local key = P .. ':n:' .. id
  local meta = redis.call('HMGET', key, 'k', 'o', 'a', 'y')
  if not meta[1] then
    out[1] = out[1] + 1
  elseif meta[1] == 'u' then
    local st = redis.call('HGET', key, 'u:' .. user)
    if not st then
      out[1] = out[1] + 1
    else
      local s, d, _, x = parse(st)
      if s ~= 'r' then
        if d == '' then d = tostring(now) end
        redis.call('HSET', key, 'u:' .. user, 'r|' .. d .. '|' .. now .. '|' .. x)
        redis.call('ZREM', P .. ':w:' .. user, meta[3] .. '|' .. id)
        feed(id, meta[4], user, 'read')
      end
    end
  elseif meta[1] == 't' and not topic_set(ARGV[i + 1])[meta[2]] then
    out[1] = out[1] + 1
  else
    if count_in(P .. ':r:' .. id, key, user, max_counted) then
      count_in(P .. ':a:' .. id, key, user, max_counted)
    end
  end
end
return out
"""
)

#: ARGV: P, now ms, ttl s, feed size, most ids per call. Returns users marked undelivered.
EXPIRE = (
    _COMMON
    + """
local marked = 0
local due = redis.call('ZRANGEBYSCORE', P .. ':dl', '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))
for _, id in ipairs(due) do
  redis.call('ZREM', P .. ':dl', id)
  local key = P .. ':n:' .. id
  local fields = redis.call('HGETALL', key)
  local typ = ''
  for i = 1, #fields, 2 do
    if fields[i] == 'y' then typ = fields[i + 1] end
  end
  for i = 1, #fields, 2 do
    if string.sub(fields[i], 1, 2) == 'u:' and string.sub(fields[i + 1], 1, 1) == 'p' then
      local user = string.sub(fields[i], 3)
      redis.call('HSET', key, fields[i], 'x|||' .. now)
      feed(id, typ, user, 'undelivered')
      marked = marked + 1
    end
  end
end
return marked
"""
)
