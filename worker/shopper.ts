import { DurableObject } from "cloudflare:workers";
import { type Bucket, type BucketRule, take } from "../src/limits/bucket.js";
import {
	type AttributePatchAnswer,
	alarmNeedsCampaigns,
	audienceDataOf,
	type CartAnswer,
	type CartEventIn,
	campaignsNeeded,
	type DecisionRecord,
	exportOf,
	type OfferReport,
	type OfferToSend,
	type PendingDelivery,
	type PersonAudienceData,
	type PersonEffect,
	type PersonExport,
	type PersonInput,
	type PersonSettings,
	type PersonState,
	type PingAnswer,
	planPings,
	type ReplyOf,
	type StateKey,
	step,
	type UserView,
	userView,
} from "../src/person/index.js";
import type { Ping } from "../src/presence/presence.js";
import type { Campaign } from "../src/schemas/campaign.js";
import type { PutDevice, PutUser } from "../src/schemas/user.js";
import { cartRules } from "./cart-rules.js";
import { PersonEvents } from "./events.js";
import { fcmClient } from "./fcm.js";
import { deliverAll } from "./person/deliver.js";
import { PersonNeighbourhood } from "./person/neighbourhood.js";
import { PersonStore } from "./person/store.js";
import { loadCampaigns } from "./store/campaigns.js";
import { claimCartEventId, recordConversion, recordDecisions, updateOfferStatus } from "./store/offers.js";
import { loadTenant, type TenantCtx } from "./tenants.js";

export type { CartAnswer, CartEventIn, PersonExport, PingAnswer, UserView } from "../src/person/index.js";

/**
 * Requests one person's apps may make (pings, profile, devices): 60 at once, then 2 a
 * second. Exact, because this object serializes the person's requests; kept in memory, so
 * an evicted object starts with a full bucket.
 */
export const PERSON_RATE: BucketRule = { capacity: 60, perSecond: 2 };

/** The answer when the person's request budget is spent. */
export interface RateLimited {
	rateLimited: true;
	retryAfterSeconds: number;
}

/** A cart event for a person who was erased, or whose eventId another person owns. */
export type CartRefusal = { erased: true } | { eventIdOwnedByAnother: true };

/** Who the effects of a step are about (their events are stored under these). */
interface Who {
	tenantId: string;
	userId: string;
}

/**
 * ShopperDO: the Durable Object of one person of one tenant (named `<tenantId>:<userId>`), a
 * thin shell around the pure person core (src/person/): it loads the state, steps it with each
 * input, carries out the effects (storage, shard calls, pushes, D1, the events outbox) and
 * answers. Every decision about the person (presence, dwell, pressure, offers, A/B and
 * holdout, cart and purchase memory, audiences) is the core's.
 *
 * One object per person serializes that person's pings, alarms and profile changes, so
 * "once per visit" and cooldowns hold without locks. Work that awaits other objects or
 * the network runs under {@link serialize}, because Durable Object input gates do not
 * hold across outgoing calls.
 */
export class ShopperDO extends DurableObject<Env> {
	private state: PersonState | null = null;
	private queue: Promise<unknown> = Promise.resolve();
	private bucket: Bucket | null = null;
	/** The fences around the person's last shard answer, read with the state. */
	private readonly hood = new PersonNeighbourhood();
	/** Events of this person (worker/events.ts): stored with the state they come from, then drained to D1 and webhooks. */
	private readonly events = new PersonEvents(this.ctx.storage, this.env);
	/** The state's storage keys, the neighbourhood's and the alarm. */
	private readonly store = new PersonStore(() => this.ctx.storage, this.hood, this.events);

	/** How pings were located since the object started: locally or by a shard call (tests, diagnostics). */
	get lookups(): { local: number; shard: number } {
		return this.hood.lookups;
	}

	/**
	 * Runs one request at a time. A request that fails drops the in-memory state, so the
	 * next one reloads what storage holds: memory never answers from changes that were
	 * not stored.
	 */
	private serialize<T>(fn: () => Promise<T>): Promise<T> {
		const guarded = async () => {
			try {
				return await fn();
			} catch (e) {
				this.forget();
				throw e;
			}
		};
		const run = this.queue.then(guarded, guarded);
		this.queue = run.catch(() => undefined);
		return run;
	}

	/** Takes one request from the person's budget; a {@link RateLimited} answer when it is spent. */
	private admit(now: number): RateLimited | null {
		const r = take(this.bucket, PERSON_RATE, now);
		this.bucket = r.bucket;
		return r.ok ? null : { rateLimited: true, retryAfterSeconds: r.retryAfterSeconds };
	}

	/** Drops everything kept in memory from storage: the next request reads it again. */
	private forget(): void {
		this.state = null;
		this.events.reset();
		this.store.reset();
		this.hood.reset();
	}

	private async load(): Promise<PersonState> {
		this.state ??= await this.store.load();
		return this.state;
	}

	/**
	 * Steps the state with one input and carries out the effects: the pushes (whose results are
	 * stepped in turn), D1 records, events, then one save of what changed and the alarm.
	 */
	private async run<I extends PersonInput>(
		input: I,
		now: number,
		settings: PersonSettings,
		who: Who | null,
		more: (s: PersonState) => Promise<Partial<I>> = async () => ({}),
	): Promise<ReplyOf<I>> {
		const s = await this.load();
		let r = step(s, input, now, settings);
		if (r.needs) r = step(s, { ...input, ...(await more(s)) }, now, settings);
		const keys = new Set<StateKey>();
		let alarm: number | null = null;
		let state = r.state;
		const sends: OfferToSend[] = [];
		const retries: PendingDelivery[] = [];
		const records: DecisionRecord[] = [];
		const carryOut = async (effects: PersonEffect[]) => {
			for (const e of effects) {
				if (e.type === "write") for (const k of e.keys) keys.add(k);
				else if (e.type === "alarm") alarm = e.at;
				else if (e.type === "emit" && who) this.events.add(who.tenantId, who.userId, e.events, now);
				else if (e.type === "convert" && who)
					await recordConversion(
						this.env.DB,
						who.tenantId,
						who.userId,
						e.exposure,
						e.eventId,
						e.revenue,
						now,
					);
				else if (e.type === "send") sends.push(e.offer);
				else if (e.type === "retry") retries.push(...e.copies);
				else if (e.type === "record") records.push(...e.records);
				else if (e.type === "forgetNeighbourhood") this.hood.forget();
				else if (e.type === "offerStatus") {
					const offer = records.find((x) => x.offer?.id === e.offerId)?.offer;
					if (e.first && offer) Object.assign(offer, { status: e.status, attempts: e.attempts });
					else if (!e.first) await updateOfferStatus(this.env.DB, e.offerId, e.status, e.attempts);
				}
			}
		};
		await carryOut(r.effects);
		if (sends.length > 0 || retries.length > 0) {
			const results = await deliverAll(this.env, state.devices, sends, retries, now);
			const d = step(state, { kind: "delivered", results }, now, null);
			state = d.state;
			await carryOut(d.effects);
		}
		if (who) await recordDecisions(this.env.DB, who.tenantId, who.userId, records, now);
		this.state = state;
		if (keys.size > 0 || r.effects.some((e) => e.type === "write")) await this.store.save(state, keys, alarm);
		return r.reply;
	}

	/**
	 * PUT /v1/users/{userId}, from the person's own app: (re-)registers them, ending an
	 * erasure's tombstone. Withdrawing location consent forgets where the person is.
	 */
	async putProfile(
		tenantId: string,
		userId: string,
		input: PutUser,
		now: number,
	): Promise<{ updatedAt: string } | RateLimited> {
		return this.serialize(async () => {
			return (
				this.admit(now) ?? this.run({ kind: "profile", tenantId, userId, profile: input }, now, null, null)
			);
		});
	}

	/**
	 * PUT /v1/users/{userId}/devices/{deviceId}; null when the person is unknown. Past
	 * `maxDevices`, the least recently seen other devices are removed.
	 */
	async putDevice(
		deviceId: string,
		input: PutDevice,
		maxDevices: number,
		now: number,
	): Promise<{ lastSeenAt: string } | RateLimited | null> {
		return this.serialize(async () => {
			return (
				this.admit(now) ?? this.run({ kind: "device", deviceId, device: input, maxDevices }, now, null, null)
			);
		});
	}

	/** DELETE /v1/users/{userId}/devices/{deviceId}; the same answer whether it existed or not. */
	async deleteDevice(deviceId: string, now: number): Promise<RateLimited | null> {
		return this.serialize(async () => {
			return this.admit(now) ?? this.run({ kind: "deviceRemoved", deviceId }, now, null, null);
		});
	}

	/** GET /v1/users/{userId}; null when unknown. */
	async getProfile(): Promise<UserView | null> {
		return userView(await this.load());
	}

	/**
	 * PATCH /v1/users/{userId}/attributes (back office): merges CRM attributes, `null` removes.
	 * Works before the person's app registers them; an erased person is not written to.
	 */
	async patchAttributes(
		tenantId: string,
		userId: string,
		patch: Record<string, string | number | boolean | null>,
		now: number,
	): Promise<AttributePatchAnswer> {
		return this.serialize(() => this.run({ kind: "attributes", tenantId, userId, patch }, now, null, null));
	}

	/** What audiences read about the person (audience test route); null when nothing is known. */
	async audienceData(): Promise<PersonAudienceData | null> {
		return audienceDataOf(await this.load());
	}

	/** GET /v1/users/{userId}/export: everything this object holds about the person, never push keys. */
	async exportData(): Promise<PersonExport | null> {
		return exportOf(await this.load());
	}

	/**
	 * DELETE /v1/users/{userId}: this object keeps nothing afterwards but a tombstone (the
	 * time of erasure), so later pings and cart events naming the person store nothing.
	 */
	async erase(now: number): Promise<boolean> {
		return this.serialize(async () => {
			const r = step(await this.load(), { kind: "erase" }, now, null);
			await this.events.idle();
			await this.ctx.storage.deleteAlarm();
			await this.ctx.storage.deleteAll();
			this.forget();
			await this.ctx.storage.put("erasedAt", r.state.erasedAt);
			return r.reply.existed;
		});
	}

	/**
	 * POST /v1/pings for this person: planned by the core (who may ping, which pings are
	 * usable), located (neighbourhood copy or shard), then stepped with the campaigns when an
	 * event may fire. A batch id seen before answers as the first time and applies nothing.
	 */
	async pings(
		tenant: TenantCtx,
		userId: string,
		deviceId: string | null,
		input: Omit<Ping, "index">[],
		now: number,
		batchId: string | null = null,
	): Promise<PingAnswer | RateLimited> {
		return this.serialize(async () => {
			const limited = this.admit(now);
			if (limited) return limited;
			const s = await this.load();
			const plan = planPings(s, { pings: input, batchId }, now, tenant.settings);
			if (plan.kind === "answer") return plan.answer;
			const located = await this.hood.locate(this.env, tenant, userId, plan.screened.usable, plan.current);
			const campaigns = () => loadCampaigns(this.env.DB, tenant.id, "geofence");
			const needed = campaignsNeeded(s, plan.screened.usable, located.lookups, now);
			return this.run(
				{
					kind: "pings",
					tenantId: tenant.id,
					userId,
					deviceId,
					screened: plan.screened,
					received: plan.received,
					batchId,
					...located,
					campaigns: needed ? await campaigns() : null,
					fcm: fcmClient(this.env) !== null,
					seed: seed(),
				},
				now,
				tenant.settings,
				{ tenantId: tenant.id, userId },
				async () => ({ campaigns: await campaigns() }),
			);
		});
	}

	/**
	 * POST /v1/cart-events for this person: applies the event to the cart in event-time
	 * order, credits a purchase to the last offer within the attribution window, and
	 * decides complementary-product offers for added items. The same eventId again
	 * returns the first answer and fires nothing, however the duplicates interleave.
	 */
	async cartEvent(
		tenant: TenantCtx,
		userId: string,
		event: CartEventIn,
		now: number,
	): Promise<CartAnswer | CartRefusal> {
		return this.serialize(async () => {
			// An erased person stays erased: the event is acknowledged and nothing is stored,
			// not even its eventId.
			if ((await this.load()).erasedAt !== null) return { erased: true };
			if (!(await claimCartEventId(this.env.DB, tenant.id, event.eventId, userId, now)))
				return { eventIdOwnedByAnother: true };
			const rules = event.type === "item_added" ? await cartRules(this.env, tenant) : null;
			const input = { kind: "cart", tenantId: tenant.id, userId, event, rules } as const;
			const full = { ...input, fcm: fcmClient(this.env) !== null, seed: seed() };
			return this.run(full, now, tenant.settings, { tenantId: tenant.id, userId });
		});
	}

	/** An offer displayed or clicked (worker/routes/offers.ts): its event, in the person's order; none once erased. */
	async offerReported(tenantId: string, userId: string, report: OfferReport, now: number): Promise<void> {
		return this.serialize(async () => {
			await this.run({ kind: "offerReport", tenantId, userId, report }, now, null, { tenantId, userId });
		});
	}

	/** Dwell and delivery retries: they fire at the moment they fall due, with no new ping needed. */
	override async alarm(): Promise<void> {
		// Events a failed (or interrupted) drain left behind go first, outside the person's queue.
		await this.events.drain();
		await this.serialize(async () => {
			// The alarm that rang is no longer set (unless this handler sets it again).
			this.store.alarmRang();
			const s = await this.load();
			if (!s.meta) return;
			const who = s.meta;
			const now = Date.now();
			const tenant = s.profile?.consent.location ? await loadTenant(this.env, who.tenantId) : null;
			const campaigns = (): Promise<Campaign[]> => loadCampaigns(this.env.DB, who.tenantId, "geofence");
			const needed = tenant !== null && alarmNeedsCampaigns(s, now);
			await this.run(
				{
					kind: "alarm",
					campaigns: needed ? await campaigns() : null,
					fcm: fcmClient(this.env) !== null,
					seed: seed(),
				},
				now,
				tenant?.settings ?? null,
				who,
				async () => ({ campaigns: await campaigns() }),
			);
		});
	}
}

/** 128 random bits as 32 hex digits: the randomness of one step (offer ids). */
function seed(): string {
	const b = crypto.getRandomValues(new Uint8Array(16));
	return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
