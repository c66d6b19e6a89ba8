// Who is signed in: asked of the API once per page load; the session cookie does the rest.
import { api, ApiError } from './api/client';
import type { User } from './api/types';

class Session {
	user = $state<User | null>(null);
	checked = $state(false);
	error = $state<string | null>(null);

	async load(): Promise<void> {
		try {
			this.user = await api.me();
			this.error = null;
		} catch (error) {
			this.user = null;
			if (!(error instanceof ApiError) || error.status !== 401) {
				this.error = error instanceof Error ? error.message : 'The server cannot be reached.';
			}
		} finally {
			this.checked = true;
		}
	}

	async signOut(): Promise<void> {
		await api.logout();
		this.user = null;
	}
}

export const session = new Session();

/** Where the sign-in button goes: Discord, then back to the page the person was on. */
export function signInUrl(path: string): string {
	return `/api/auth/login?next=${encodeURIComponent(path)}`;
}
