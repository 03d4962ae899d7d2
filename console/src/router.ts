import { useEffect, useState } from "preact/hooks";

/**
 * Hash routes (`#/campaigns/x`): static assets serve one index.html, and nothing secret ever
 * goes in the URL (people's ids stay out of it too).
 */
export function currentRoute(): string[] {
	return location.hash
		.replace(/^#\/?/, "")
		.split("/")
		.filter(Boolean)
		.map((s) => decodeURIComponent(s));
}

export function useRoute(): string[] {
	const [route, setRoute] = useState(currentRoute);
	useEffect(() => {
		const on = () => setRoute(currentRoute());
		addEventListener("hashchange", on);
		return () => removeEventListener("hashchange", on);
	}, []);
	return route;
}

export function href(...parts: string[]): string {
	return `#/${parts.map(encodeURIComponent).join("/")}`;
}

export function go(...parts: string[]): void {
	location.hash = href(...parts);
}
