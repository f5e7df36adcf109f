"""Spanish unless the user chose otherwise."""


class SpanishUnlessChosen:
    """The portal speaks Spanish to everyone whatever the browser's Accept-Language says (a
    leader with an English phone must not get a half-English portal by surprise); a language
    picked in the footer (Django's language cookie) still wins. Runs before LocaleMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.META.pop("HTTP_ACCEPT_LANGUAGE", None)
        return self.get_response(request)


class QuietPolls:
    """Marks htmx polls so runserver's request log keeps them at DEBUG (project.logfilters)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from .logfilters import mark_request_quiet

        mark_request_quiet(request.headers.get("HX-Request") == "true")
        return self.get_response(request)
