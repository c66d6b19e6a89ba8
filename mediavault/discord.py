"""Discord's OAuth2 endpoints, through authlib's OAuth2 client (authorization code + PKCE)."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mediavault.errors import BadGateway

if TYPE_CHECKING:
    from authlib.integrations.httpx_client import OAuth2Client

    from mediavault.config import AuthSettings

logger = logging.getLogger(__name__)

AVATAR_URL = "https://cdn.discordapp.com/avatars/{id}/{avatar}.png"
TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class DiscordIdentity:
    """Who Discord says signed in."""

    id: str
    username: str
    avatar_url: str | None


class ProviderError(BadGateway):
    """Discord answered with an error, or could not be reached."""


class Discord:
    """A client for one sign-in: authorize URL, code exchange, identity and guilds."""

    def __init__(self, settings: AuthSettings, redirect_uri: str) -> None:
        self.settings = settings
        self.redirect_uri = redirect_uri

    @property
    def scopes(self) -> str:
        """`identify`, plus `guilds` when membership must be checked."""
        return "identify guilds" if self.settings.discord_guild_ids else "identify"

    def _client(self, token: dict[str, Any] | None = None) -> OAuth2Client:
        from authlib.deprecate import AuthlibDeprecationWarning  # installs authlib's filter

        with warnings.catch_warnings():
            # authlib 1.9 nudges towards the httpx2 package on import; we pin and test httpx.
            warnings.simplefilter("ignore", AuthlibDeprecationWarning)
            from authlib.integrations.httpx_client import OAuth2Client

        return OAuth2Client(
            client_id=self.settings.discord_client_id,
            client_secret=self.settings.discord_client_secret,
            scope=self.scopes,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            token=token,
            timeout=TIMEOUT_SECONDS,
        )

    def authorize_url(self, state: str, code_verifier: str) -> str:
        """Where to send the browser; carries state and the PKCE S256 challenge."""
        with self._client() as client:
            url, _ = client.create_authorization_url(
                self.settings.discord_authorize_url,
                state=state,
                code_verifier=code_verifier,
                prompt="none",
            )
        return str(url)

    def exchange_code(self, code: str, code_verifier: str) -> dict[str, Any]:
        """Trade the authorization code (and verifier) for an access token."""
        with self._client() as client:
            token = self._call(
                "token exchange",
                lambda: client.fetch_token(
                    self.settings.discord_token_url,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=code_verifier,
                ),
            )
        if not isinstance(token, dict) or "access_token" not in token:
            raise ProviderError("Discord returned no access token")
        return dict(token)

    def identity(self, token: dict[str, Any]) -> DiscordIdentity:
        """users/@me."""
        user = self._get(token, "/users/@me")
        if not isinstance(user, dict) or not user.get("id") or not user.get("username"):
            raise ProviderError("Discord returned no user")
        avatar = user.get("avatar")
        return DiscordIdentity(
            id=str(user["id"]),
            username=str(user["username"])[:100],
            avatar_url=AVATAR_URL.format(id=user["id"], avatar=avatar) if avatar else None,
        )

    def guild_ids(self, token: dict[str, Any]) -> set[str]:
        """The ids of the guilds the user is a member of (users/@me/guilds)."""
        guilds = self._get(token, "/users/@me/guilds")
        if not isinstance(guilds, list):
            raise ProviderError("Discord returned no guild list")
        return {str(guild["id"]) for guild in guilds if isinstance(guild, dict) and "id" in guild}

    def _get(self, token: dict[str, Any], path: str) -> Any:
        url = self.settings.discord_api_base_url + path
        with self._client(token) as client:
            response = self._call(path, lambda: client.get(url))
        if response.status_code != 200:
            logger.warning("Discord %s answered %s", path, response.status_code)
            raise ProviderError(f"Discord answered {response.status_code} to {path}")
        try:
            return response.json()
        except ValueError:
            raise ProviderError(f"Discord sent malformed JSON for {path}") from None

    @staticmethod
    def _call(what: str, call: Any) -> Any:
        import httpx
        from authlib.integrations.base_client.errors import OAuthError

        try:
            return call()
        except OAuthError as error:
            logger.warning("Discord %s refused: %s", what, error)
            raise ProviderError(f"Discord refused the {what}: {error.error}") from None
        except httpx.HTTPStatusError as error:
            logger.warning("Discord %s failed: HTTP %s", what, error.response.status_code)
            raise ProviderError(f"Discord answered {error.response.status_code} ({what})") from None
        except httpx.HTTPError as error:
            logger.warning("Discord %s failed: %s", what, error)
            raise ProviderError(
                f"Discord could not be reached ({what})", code="provider_unavailable"
            ) from None
        except ValueError:
            raise ProviderError(f"Discord sent a malformed answer ({what})") from None
