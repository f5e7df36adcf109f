"""Per-token request rate (API_THROTTLE_RATE), counted in Redis so every web process shares it."""

from functools import cache

from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import SimpleRateThrottle

from .models import ApiToken


@cache
def _counter_store() -> RedisCache:
    return RedisCache(settings.REDIS_URL, {"KEY_PREFIX": "api-throttle"})


class TokenRateThrottle(SimpleRateThrottle):
    scope = "api_token"

    @property
    def cache(self):
        return _counter_store()

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ApiToken):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}
