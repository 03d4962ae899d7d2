/**
 * Language tags: audience `locale` conditions and the choice of a variant's translation.
 * Tags compare case-insensitively (BCP 47 tags are), and a tag covers its regional forms:
 * `fr` covers `fr-CA`, `de-CH` covers `de-CH-1996`, never the other way round.
 */

/**
 * Whether the person's tag is `tag` or one of its regional forms.
 *
 * @param tag the condition's tag, lower-cased
 * @param personTag the person's tag, lower-cased
 */
export function languageMatches(tag: string, personTag: string): boolean {
	return (
		personTag === tag ||
		(personTag.length > tag.length && personTag.charCodeAt(tag.length) === 45 && personTag.startsWith(tag))
	);
}

/**
 * The entry of `localized` for a person's locale: the exact tag first, then its language
 * alone (`fr` for `fr-CA`), else null (the caller falls back to its default content).
 */
export function pickLocalized<T>(
	localized: Readonly<Record<string, T>> | null | undefined,
	locale: string | null | undefined,
): { tag: string; entry: T } | null {
	if (!localized || !locale) return null;
	const wanted = locale.toLowerCase();
	const language = wanted.split("-")[0] ?? wanted;
	let byLanguage: { tag: string; entry: T } | null = null;
	for (const tag of Object.keys(localized)) {
		const t = tag.toLowerCase();
		const entry = localized[tag] as T;
		if (t === wanted) return { tag, entry };
		if (t === language && !byLanguage) byLanguage = { tag, entry };
	}
	return byLanguage;
}
