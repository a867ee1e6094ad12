"""Where ``bls relay`` nodes keep what they share: which rooms are open, which client holds each room,
and the messages between the two sides. One interface, two implementations:

* :class:`LocalBroker`: in this process only (one relay node; nothing to install).
* :class:`RedisBroker`: Redis (``redis.asyncio``): keys with a time to live for rooms and clients,
  pub/sub channels for the messages, so the therapist's app and the client may be connected to
  different nodes, and a node that dies takes nothing with it (each side reconnects, to any node).

Leases (``claim``/``renew``/``release``): the value is "owner|connection". A room is owned by the
therapist's key and held by its app's connection; a client slot is owned by one device (the page's id)
and held by its connection. The same owner may take a lease over from its own older connection (a
device or app reconnecting after its node died); nobody else may until it expires. Every lease expires
unless renewed by the node holding the connection, so a killed node frees them.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict

ROOM = "bls:room:{}"
CLIENT = "bls:client:{}"
TO_HOST = "bls:to-host:{}"
TO_CLIENT = "bls:to-client:{}"

# compare-and-set scripts: a lease is renewed or released only by the one holding it
_RENEW = """if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0"""
_RELEASE = """if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"""
# a lease taken if free or already this owner's: the value is "owner|connection", and the same owner
# (a device coming back, the therapist's app reconnecting) takes it over from its older connection
_CLAIM = """local v = redis.call('get', KEYS[1])
if (not v) or string.sub(v, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. '|' then
  redis.call('set', KEYS[1], ARGV[1] .. '|' .. ARGV[3], 'PX', ARGV[2]) return 1 end
return 0"""


class LocalBroker:
    """Rooms, client slots and channels in this process."""

    name = "this node only"

    def __init__(self):
        self._keys: dict[str, tuple[str, float]] = {}
        self._subs: dict[str, set] = defaultdict(set)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        self._subs.clear()

    def _get(self, key: str) -> str | None:
        v = self._keys.get(key)
        if v is None:
            return None
        if v[1] <= time.monotonic():
            del self._keys[key]
            return None
        return v[0]

    async def get(self, key: str) -> str | None:
        return self._get(key)

    async def put(self, key: str, value: str, ttl_s: float) -> None:
        self._keys[key] = (value, time.monotonic() + ttl_s)

    async def claim(self, key: str, owner: str, conn: str, ttl_s: float) -> bool:
        v = self._get(key)
        if v is not None and not v.startswith(owner + "|"):
            return False
        self._keys[key] = (f"{owner}|{conn}", time.monotonic() + ttl_s)
        return True

    async def renew(self, key: str, holder: str, ttl_s: float) -> bool:
        if self._get(key) != holder:
            return False
        self._keys[key] = (holder, time.monotonic() + ttl_s)
        return True

    async def release(self, key: str, holder: str) -> None:
        if self._get(key) == holder:
            del self._keys[key]

    async def delete(self, key: str) -> None:
        self._keys.pop(key, None)

    async def publish(self, channel: str, data: str) -> None:
        for callback in list(self._subs.get(channel, ())):
            callback(data)

    async def subscribe(self, channel: str, callback) -> None:
        self._subs[channel].add(callback)

    async def unsubscribe(self, channel: str, callback) -> None:
        subs = self._subs.get(channel)
        if subs is not None:
            subs.discard(callback)
            if not subs:
                del self._subs[channel]


class RedisBroker:
    """The same through a Redis server at ``url`` (``redis://host:port/db``); every node of a practice's
    relay points at the same one."""

    def __init__(self, url: str):
        import redis.asyncio as aioredis

        self.name = f"Redis at {url}"
        self._redis = aioredis.from_url(url, decode_responses=True, socket_connect_timeout=3.0,
                                        socket_timeout=5.0, health_check_interval=10)
        self._pubsub = None
        self._reader: asyncio.Task | None = None
        self._subs: dict[str, set] = defaultdict(set)
        self._claim = self._redis.register_script(_CLAIM)
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)

    async def start(self) -> None:
        await self._redis.ping()  # a relay that cannot reach its Redis says so at once
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe("bls:hello")  # a subscription must exist before listen() reads
        self._reader = asyncio.ensure_future(self._read())

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        if self._pubsub is not None:
            try:
                await self._pubsub.aclose()
            except Exception:  # noqa: BLE001 - closing a connection that died
                pass
        await self._redis.aclose()

    async def _read(self) -> None:
        while True:
            try:
                async for m in self._pubsub.listen():
                    if m.get("type") == "message":
                        for callback in list(self._subs.get(m["channel"], ())):
                            callback(m["data"])
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - Redis went away: subscriptions are made again when it is back
                await asyncio.sleep(0.5)
                try:
                    channels = list(self._subs) or ["bls:hello"]
                    await self._pubsub.subscribe(*channels)
                except Exception:  # noqa: BLE001
                    pass

    async def get(self, key: str) -> str | None:
        return await self._redis.get(key)

    async def put(self, key: str, value: str, ttl_s: float) -> None:
        await self._redis.set(key, value, px=int(ttl_s * 1000))

    async def claim(self, key: str, owner: str, conn: str, ttl_s: float) -> bool:
        return bool(await self._claim(keys=[key], args=[owner, int(ttl_s * 1000), conn]))

    async def renew(self, key: str, holder: str, ttl_s: float) -> bool:
        return bool(await self._renew(keys=[key], args=[holder, int(ttl_s * 1000)]))

    async def release(self, key: str, holder: str) -> None:
        await self._release(keys=[key], args=[holder])

    async def delete(self, key: str) -> None:
        await self._redis.delete(key)

    async def publish(self, channel: str, data: str) -> None:
        await self._redis.publish(channel, data)

    async def subscribe(self, channel: str, callback) -> None:
        first = channel not in self._subs
        self._subs[channel].add(callback)
        if first:
            await self._pubsub.subscribe(channel)

    async def unsubscribe(self, channel: str, callback) -> None:
        subs = self._subs.get(channel)
        if subs is None:
            return
        subs.discard(callback)
        if not subs:
            del self._subs[channel]
            await self._pubsub.unsubscribe(channel)
