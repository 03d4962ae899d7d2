/**
 * Preferences of this browser that are not secrets: only the basemap style URL. (The session
 * token is never stored; see api.ts.)
 */
const BASEMAP_KEY = "edge-offers.console.basemap";

export function basemapUrl(): string | null {
	try {
		const v = localStorage.getItem(BASEMAP_KEY);
		return v && /^https:\/\//.test(v) ? v : null;
	} catch {
		return null;
	}
}

export function setBasemapUrl(url: string): void {
	try {
		if (url.trim()) localStorage.setItem(BASEMAP_KEY, url.trim());
		else localStorage.removeItem(BASEMAP_KEY);
	} catch {
		// Storage disabled: the plain background is used.
	}
}
