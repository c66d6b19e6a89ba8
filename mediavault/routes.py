"""The route table: which function serves which path prefix. Everything else derives from it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    """A path prefix served by one function (matches the prefix itself and everything below it)."""

    prefix: str
    function: str

    def matches(self, path: str) -> bool:
        """True when the path is the prefix or lies below it ("/" is below itself: every path)."""
        if self.prefix == "/":
            return path.startswith("/")
        return path == self.prefix or path.startswith(self.prefix + "/")


ROUTES: tuple[Route, ...] = (
    Route("/api/auth", "auth"),
    Route("/api/uploads", "presign"),
    Route("/api/media", "media"),
    Route("/api/tags", "media"),
    Route("/api/collections", "collections"),
    Route("/api/share", "share"),
    Route("/s", "share"),
    # The web app owns everything else (its client-side routes; the longest prefix wins).
    Route("/", "web"),
)

FUNCTIONS: tuple[str, ...] = tuple(dict.fromkeys(route.function for route in ROUTES))


def route_for(path: str) -> Route | None:
    """The route a request path takes: the longest matching prefix; None when none matches."""
    best: Route | None = None
    for route in ROUTES:
        if route.matches(path) and (best is None or len(route.prefix) > len(best.prefix)):
            best = route
    return best


def function_for(path: str) -> str | None:
    """The function serving a request path, by longest matching prefix; None when none does."""
    route = route_for(path)
    return None if route is None else route.function


def prefixes_of(function: str) -> tuple[str, ...]:
    """Every path prefix routed to one function."""
    return tuple(route.prefix for route in ROUTES if route.function == function)
