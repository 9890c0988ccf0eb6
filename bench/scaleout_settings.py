"""Settings of the scale-out bench server: ``bench.settings`` plus the channel layer chosen by the environment.

The environment selects the layer the way ``tests/conformance/settings.py`` does:

- no ``REDIS_URL``: ``bench.settings``' ``InMemoryChannelLayer`` (one process);
- ``REDIS_URL`` and ``CHANNEL_LAYER=pubsub``: ``channels_redis.pubsub.RedisPubSubChannelLayer``;
- ``REDIS_URL`` otherwise: ``channels_redis.core.RedisChannelLayer``, with a large ``channel_capacity`` for
  realtime's process channels (architecture.md §3a.5: a full process channel drops group messages silently).

Both layers get a pool of up to ``LAYER_MAX_CONNECTIONS`` Redis connections per process: redis-py 8's pools stop
at 100 and raise ``MaxConnectionsError`` beyond (redis-py 7's had no practical limit), which the core layer
reached while 1,000 members joined on a loaded machine.

With ``REDIS_URL`` the connection registry is ``RedisRegistry`` too, so every process sees every connection, and
``STATEFUL_RECONNECT_STORE=1`` turns on the durable buffer of stateful reconnect (``bench.resume``).
"""

import os

from .settings import *  # noqa: F403

REDIS_URL = os.environ.get("REDIS_URL")
LAYER_MAX_CONNECTIONS = 1000
if REDIS_URL and os.environ.get("CHANNEL_LAYER") == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "max_connections": LAYER_MAX_CONNECTIONS}]},
        }
    }
elif REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": None, "max_connections": LAYER_MAX_CONNECTIONS}],
                "capacity": 1000,
                "channel_capacity": {"*!realtime.*": 10000},
            },
        }
    }

REALTIME = {
    "REDIS_URL": REDIS_URL,
    "REGISTRY_BACKEND": "realtime.registry.RedisRegistry" if REDIS_URL else "realtime.registry.MemoryRegistry",
    "STATEFUL_RECONNECT_STORE": (
        "realtime.resume_store.RedisResumeStore" if REDIS_URL and os.environ.get("STATEFUL_RECONNECT_STORE") else None
    ),
}
