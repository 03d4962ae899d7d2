/**
 * Sticky A/B assignment and holdout by a stable hash of (campaign, person): the same
 * person always lands in the same variant and the same side of the holdout, with no
 * stored randomness, and the two draws are independent of each other.
 */

/** FNV-1a 32-bit: fast, stable across runtimes, good enough spread for bucketing. */
export function fnv1a32(s: string): number {
	let h = 0x811c9dc5;
	for (let i = 0; i < s.length; i++) {
		h ^= s.charCodeAt(i);
		h = Math.imul(h, 0x01000193);
	}
	// Final avalanche (from murmur3's fmix32) so similar ids spread evenly.
	h ^= h >>> 16;
	h = Math.imul(h, 0x85ebca6b);
	h ^= h >>> 13;
	h = Math.imul(h, 0xc2b2ae35);
	h ^= h >>> 16;
	return h >>> 0;
}

/** A uniform draw in [0, 1) for this person and purpose. */
export function stableUnit(purpose: string, campaignId: string, userId: string): number {
	return fnv1a32(`${purpose}\u0000${campaignId}\u0000${userId}`) / 2 ** 32;
}

/** Picks the weighted variant for this person; null when every weight is 0. */
export function assignVariant<V extends { id: string; weight: number }>(
	campaignId: string,
	userId: string,
	variants: readonly V[],
): V | null {
	const total = variants.reduce((s, v) => s + Math.max(0, v.weight), 0);
	if (total <= 0) return null;
	let x = stableUnit("variant", campaignId, userId) * total;
	for (const v of variants) {
		x -= Math.max(0, v.weight);
		if (x < 0) return v;
	}
	return variants.findLast((v) => v.weight > 0) ?? null;
}

/** Whether this person is in the campaign's holdout group. */
export function inHoldout(campaignId: string, userId: string, holdoutPercent: number): boolean {
	return stableUnit("holdout", campaignId, userId) * 100 < holdoutPercent;
}
