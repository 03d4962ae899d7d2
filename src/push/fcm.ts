/**
 * Firebase Cloud Messaging HTTP v1 transport: one message format for Android and iOS
 * (APNs through FCM), authorised by an OAuth2 access token that a Google service account
 * obtains with an RS256-signed JWT (RFC 7523), signed with `jose` (the service's one JWT
 * library) over WebCrypto; no env; `fetch` and the clock are injected, so the same code runs in
 * workerd and in Node 24.
 */
import { importPKCS8, SignJWT } from "jose";
import { z } from "zod";
import { AppError, INTERNAL_STATUS } from "../errors.js";
// Type-only: payload.ts itself imports node:crypto, which this module must not load.
import type { OfferPayloadAction } from "./payload.js";
import { parseRetryAfter } from "./retry-after.js";

/** OAuth2 scope that allows sending FCM messages. */
export const FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging";

/** Google's OAuth2 token endpoint, the `token_uri` of every service-account key file. */
export const DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token";

/** Base URL of the FCM HTTP v1 API. */
export const DEFAULT_FCM_API_BASE_URL = "https://fcm.googleapis.com";

/** Lifetime asked for the JWT assertion; Google refuses more than one hour. */
const JWT_LIFETIME_SECONDS = 3600;

/** A cached access token is renewed this long before it expires, so no send races its expiry. */
const TOKEN_REFRESH_MARGIN_MS = 60_000;

/** FCM refuses a `ttl` above four weeks (INVALID_ARGUMENT). */
const MAX_FCM_TTL_SECONDS = 2_419_200;

/**
 * Collapse topics: URL-safe so they fit every header they land in; 64 is the byte limit
 * of `apns-collapse-id`. `pushTopic` (32 characters) fits.
 */
const TOPIC = /^[A-Za-z0-9_-]{1,64}$/;

/** FCM's own pattern for `fcm_options.analytics_label`. */
const ANALYTICS_LABEL = /^[a-zA-Z0-9-_.~%]{1,50}$/;

/** PKCS#8 only: WebCrypto cannot import the PKCS#1 `BEGIN RSA PRIVATE KEY` form. */
const PKCS8_PEM = /^\s*-----BEGIN PRIVATE KEY-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END PRIVATE KEY-----\s*$/;

/** Stable codes of {@link FcmError}. */
export type FcmErrorCode =
	| "invalid_service_account"
	| "oauth_failed"
	| "invalid_fcm_message"
	| "invalid_ttl"
	| "invalid_topic";

/**
 * An error of the FCM transport, identified by its stable `code`, never by its message.
 * Status 500: a bad service account or message is a configuration or programming error,
 * answered `internal` should one reach the Worker's error mapping (sends report outcomes).
 */
export class FcmError extends AppError {
	/** Stable, machine-readable reason. */
	declare readonly code: FcmErrorCode;
	override readonly name = "FcmError";

	/**
	 * @param code - Stable reason.
	 * @param message - Human-readable detail for logs; defaults to the code. Never carries key material.
	 * @param options - Standard error options (`cause`).
	 */
	constructor(code: FcmErrorCode, message?: string, options?: ErrorOptions) {
		super(code, INTERNAL_STATUS, message ?? code, undefined, undefined, options);
	}
}

/** Decodes the base64 body of a PKCS#8 PEM; `null` when it is not one. */
function pemToDer(pem: string): Uint8Array<ArrayBuffer> | null {
	const match = PKCS8_PEM.exec(pem);
	const body = match?.[1]?.replace(/\s+/g, "");
	if (body === undefined || body === "") return null;
	let binary: string;
	try {
		binary = atob(body);
	} catch {
		return null;
	}
	const bytes = new Uint8Array(binary.length);
	for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
	return bytes;
}

/**
 * The fields of a Google service-account key file (`*.json` from the Cloud console) that
 * the transport uses; the others are ignored. `private_key` must be a PKCS#8 PEM, which
 * is what Google issues.
 */
export const ServiceAccountSchema = z.object({
	type: z.literal("service_account"),
	project_id: z.string().min(1),
	private_key: z.string().refine((pem) => pemToDer(pem) !== null, {
		message: "must be a PKCS#8 PEM private key (-----BEGIN PRIVATE KEY-----)",
	}),
	client_email: z.string().min(1),
	// A signed assertion is a bearer credential for an hour: never send it in clear text.
	token_uri: z.url({ protocol: /^https$/ }).default(DEFAULT_TOKEN_URL),
});

/** A validated service account. */
export type ServiceAccount = z.infer<typeof ServiceAccountSchema>;

/** One problem found in a service-account file; never quotes the file's content. */
export interface ServiceAccountIssue {
	path: (string | number)[];
	message: string;
}

/** Outcome of {@link parseServiceAccount}. */
export type ServiceAccountResult =
	| { ok: true; serviceAccount: ServiceAccount }
	| { ok: false; code: "invalid_service_account"; issues: ServiceAccountIssue[] };

/**
 * Parses a service-account key file.
 *
 * @param json - The file's text.
 * @returns The service account, or `invalid_service_account` with the problems found.
 *   Issues never quote the input, which holds a private key.
 * @example
 * const parsed = parseServiceAccount(env.FCM_SERVICE_ACCOUNT);
 * if (!parsed.ok) throw new Error(parsed.code);
 */
export function parseServiceAccount(json: string): ServiceAccountResult {
	let data: unknown;
	try {
		data = JSON.parse(json);
	} catch {
		// The parser's message quotes the input around the error: it could leak the key.
		return { ok: false, code: "invalid_service_account", issues: [{ path: [], message: "not valid JSON" }] };
	}
	const result = ServiceAccountSchema.safeParse(data);
	if (result.success) return { ok: true, serviceAccount: result.data };
	return {
		ok: false,
		code: "invalid_service_account",
		issues: result.error.issues.map((issue) => ({
			path: issue.path.map((key) => (typeof key === "number" ? key : String(key))),
			message: issue.message,
		})),
	};
}

/**
 * Imports a service account's PKCS#8 PEM key for RS256 signing.
 *
 * @param pem - `private_key` of a service account.
 * @returns A non-extractable RSASSA-PKCS1-v1_5 / SHA-256 signing key.
 * @throws {FcmError} `invalid_service_account` when the PEM or the key inside it is unusable.
 */
export async function importServiceAccountKey(pem: string): Promise<CryptoKey> {
	if (pemToDer(pem) === null)
		throw new FcmError("invalid_service_account", "private_key is not a PKCS#8 PEM");
	try {
		return await importPKCS8(pem, "RS256");
	} catch (cause) {
		throw new FcmError("invalid_service_account", "private_key is not an RSA PKCS#8 key", { cause });
	}
}

/** Claims of the JWT a service account trades for an access token (RFC 7523 §3). */
export interface JwtClaims {
	/** The service account's `client_email`. */
	iss: string;
	/** Space-separated OAuth2 scopes; {@link FCM_SCOPE} here. */
	scope: string;
	/** The token endpoint the assertion is posted to. */
	aud: string;
	/** Issued at, epoch seconds. */
	iat: number;
	/** Expiry, epoch seconds. */
	exp: number;
}

/**
 * The claims asking for an FCM access token.
 *
 * @param clientEmail - The service account's `client_email`.
 * @param tokenUrl - The token endpoint (`aud`).
 * @param nowMs - Current time, epoch milliseconds.
 * @returns Claims valid from now for {@link JWT_LIFETIME_SECONDS}.
 */
export function buildJwtClaims(clientEmail: string, tokenUrl: string, nowMs: number): JwtClaims {
	const iat = Math.floor(nowMs / 1000);
	return { iss: clientEmail, scope: FCM_SCOPE, aud: tokenUrl, iat, exp: iat + JWT_LIFETIME_SECONDS };
}

/**
 * Signs `claims` as a compact JWT with header `{"alg":"RS256","typ":"JWT"}`.
 *
 * @param claims - The JWT claims, usually from {@link buildJwtClaims}.
 * @param key - An RSASSA-PKCS1-v1_5 / SHA-256 key from {@link importServiceAccountKey}.
 * @returns `header.claims.signature`, each part base64url without padding.
 */
export function signJwt(claims: JwtClaims, key: CryptoKey): Promise<string> {
	return new SignJWT({ ...claims }).setProtectedHeader({ alg: "RS256", typ: "JWT" }).sign(key);
}

/** An offer rendered for a mobile device. */
export interface FcmMessageInput {
	title: string;
	body: string;
	/** Where a tap leads; sent in `data.url` for the app to open. */
	url?: string;
	/** Image URL shown in the notification (iOS needs a notification service extension). */
	image?: string;
	/** Action buttons; sent as JSON in `data.actions`, which the app renders. */
	actions?: OfferPayloadAction[];
	offerId: string;
	campaignId: string;
	variantId?: string;
	/** End of the offer's validity, epoch milliseconds: `data.expiresAt` and `apns-expiration`. */
	expiresAtMs: number;
	/** How long FCM keeps an undelivered message (Android `ttl`); above four weeks is capped there. */
	ttlSeconds: number;
	/** `high` wakes the device (in-store offers); `normal` may be batched. */
	urgency: "high" | "normal";
	/** Collapse key: a newer message with the same topic replaces an undelivered older one. See `pushTopic`. */
	topic: string;
	/**
	 * Android `click_action`: the intent action of the activity a tap opens. It is an
	 * intent filter name, not a URL, so it is separate from {@link FcmMessageInput.url}.
	 */
	clickAction?: string;
	/** `fcm_options.analytics_label`, for FCM delivery reports (`[a-zA-Z0-9-_.~%]{1,50}`). */
	analyticsLabel?: string;
}

/** The request body of `messages:send`, as {@link buildFcmMessage} builds it. */
export interface FcmSendBody {
	message: {
		token: string;
		notification: { title: string; body: string; image?: string };
		/** FCM requires every data value to be a string. */
		data: Record<string, string>;
		android: {
			ttl: string;
			priority: "high" | "normal";
			collapse_key: string;
			notification: { click_action?: string; tag: string };
		};
		apns: {
			headers: { "apns-priority": "10" | "5"; "apns-expiration": string; "apns-collapse-id": string };
			payload: { aps: { "mutable-content": 1; alert: { title: string; body: string } } };
		};
		fcm_options?: { analytics_label: string };
	};
}

/**
 * Builds the body of an FCM HTTP v1 `messages:send` request for one device.
 *
 * The notification is shown by the OS (Android `tag` and `apns-collapse-id` replace an
 * older one with the same topic); `data` carries what the app needs to report on the
 * offer, every value a string as FCM requires. Optional fields left `undefined` are omitted.
 *
 * @param token - The device's FCM registration token.
 * @param input - The rendered offer and its delivery options.
 * @returns The JSON body to POST.
 * @throws {FcmError} `invalid_fcm_message` (empty token, bad expiry or analytics label),
 *   `invalid_ttl`, `invalid_topic`.
 * @example
 * buildFcmMessage(token, { title: "Hi", body: "-20%", offerId: "o1", campaignId: "c1",
 *   expiresAtMs: Date.now() + 600_000, ttlSeconds: 600, urgency: "high", topic: "t1" });
 */
export function buildFcmMessage(token: string, input: FcmMessageInput): FcmSendBody {
	if (token === "") throw new FcmError("invalid_fcm_message", "token must not be empty");
	if (!Number.isSafeInteger(input.ttlSeconds) || input.ttlSeconds < 0) {
		throw new FcmError("invalid_ttl", "ttlSeconds must be a non-negative integer");
	}
	if (!TOPIC.test(input.topic)) {
		throw new FcmError("invalid_topic", "topic must be 1 to 64 URL-safe base64 characters");
	}
	if (!Number.isFinite(input.expiresAtMs) || Number.isNaN(new Date(input.expiresAtMs).getTime())) {
		throw new FcmError("invalid_fcm_message", "expiresAtMs must be a valid epoch-milliseconds time");
	}
	if (input.analyticsLabel !== undefined && !ANALYTICS_LABEL.test(input.analyticsLabel)) {
		throw new FcmError("invalid_fcm_message", "analyticsLabel must match [a-zA-Z0-9-_.~%]{1,50}");
	}

	const data: Record<string, string> = { offerId: input.offerId, campaignId: input.campaignId };
	if (input.variantId !== undefined) data.variantId = input.variantId;
	if (input.url !== undefined) data.url = input.url;
	if (input.actions !== undefined) {
		data.actions = JSON.stringify(input.actions.map((a) => ({ id: a.id, title: a.title, url: a.url })));
	}
	data.expiresAt = new Date(input.expiresAtMs).toISOString();

	const notification: FcmSendBody["message"]["notification"] = { title: input.title, body: input.body };
	if (input.image !== undefined) notification.image = input.image;

	const androidNotification: FcmSendBody["message"]["android"]["notification"] = { tag: input.topic };
	if (input.clickAction !== undefined) androidNotification.click_action = input.clickAction;

	const message: FcmSendBody["message"] = {
		token,
		notification,
		data,
		android: {
			ttl: `${Math.min(input.ttlSeconds, MAX_FCM_TTL_SECONDS)}s`,
			priority: input.urgency,
			collapse_key: input.topic,
			notification: androidNotification,
		},
		apns: {
			headers: {
				"apns-priority": input.urgency === "high" ? "10" : "5",
				"apns-expiration": String(Math.max(0, Math.floor(input.expiresAtMs / 1000))),
				"apns-collapse-id": input.topic,
			},
			// mutable-content lets the app's notification service extension fetch the image
			// and record "displayed".
			payload: { aps: { "mutable-content": 1, alert: { title: input.title, body: input.body } } },
		},
	};
	if (input.analyticsLabel !== undefined) message.fcm_options = { analytics_label: input.analyticsLabel };
	return { message };
}

/** What to do after FCM answered: the kinds of Web Push's `PushOutcome`, with FCM's details. */
export type FcmOutcome =
	| {
			kind: "accepted";
			/** `projects/<id>/messages/<id>`; `null` when a 200 body lacked it. */
			messageId: string | null;
	  }
	| { kind: "gone" }
	| { kind: "retry"; retryAtMs: number | null }
	| {
			kind: "failed";
			/**
			 * FCM's `errorCode` (e.g. `SENDER_ID_MISMATCH`), else its `status` (e.g.
			 * `UNAUTHENTICATED`), else `http_<status>`; `oauth_failed` or
			 * `invalid_service_account` when no access token could be had.
			 */
			code: string;
	  };

const GoogleErrorBodySchema = z.object({
	error: z.object({
		code: z.number().optional(),
		status: z.string().optional(),
		message: z.string().optional(),
		details: z.array(z.unknown()).optional(),
	}),
});

const FcmErrorDetailSchema = z.object({
	"@type": z.literal("type.googleapis.com/google.firebase.fcm.v1.FcmError"),
	errorCode: z.string(),
});

const SendResponseSchema = z.object({ name: z.string() });

/** Error codes (FCM `errorCode` or Google `status`) that mean "try again later". */
const RETRYABLE_CODES = new Set(["UNAVAILABLE", "INTERNAL", "QUOTA_EXCEEDED", "RESOURCE_EXHAUSTED"]);

/** Parses a JSON text with a schema; `null` when it is not JSON or does not match. */
function parseJson<T>(schema: z.ZodType<T>, text: string | null): T | null {
	if (text === null) return null;
	let data: unknown;
	try {
		data = JSON.parse(text);
	} catch {
		return null;
	}
	const result = schema.safeParse(data);
	return result.success ? result.data : null;
}

/** The `status` and FCM `errorCode` of a Google API error body, each `null` when absent. */
function readGoogleError(text: string | null): { status: string | null; errorCode: string | null } {
	const body = parseJson(GoogleErrorBodySchema, text);
	if (body === null) return { status: null, errorCode: null };
	let errorCode: string | null = null;
	for (const detail of body.error.details ?? []) {
		const parsed = FcmErrorDetailSchema.safeParse(detail);
		if (parsed.success) {
			errorCode = parsed.data.errorCode;
			break;
		}
	}
	return { status: body.error.status ?? null, errorCode };
}

/**
 * Maps an FCM `messages:send` answer to the action the sender takes (DESIGN "Push").
 *
 * - 2xx: accepted, with the message name FCM gave.
 * - A 4xx whose FCM error says `UNREGISTERED` (or a 404 whose error is `NOT_FOUND`): the token
 *   is gone; delete exactly that device. A bare 404 without FCM's error body means a wrong
 *   project or base URL, and must not wipe every device's token: it fails instead.
 * - 429, 5xx, or an `UNAVAILABLE` / `INTERNAL` / `QUOTA_EXCEEDED` error: retry at
 *   `Retry-After` when given, else with the caller's backoff (`null`).
 * - Anything else (other 4xx such as `INVALID_ARGUMENT` or `SENDER_ID_MISMATCH`, 401, an
 *   unfollowed 3xx): failed with a code, never retried blindly.
 *
 * 401 is retried with a fresh token by the client before this is consulted.
 *
 * @param status - HTTP status of FCM's response.
 * @param headers - Its headers (for `Retry-After`).
 * @param bodyText - Its body, `null` when it could not be read.
 * @param nowMs - Current time in epoch milliseconds.
 * @example
 * classifyFcmResponse(429, new Headers({ "Retry-After": "30" }), "", 0); // => { kind: "retry", retryAtMs: 30000 }
 */
export function classifyFcmResponse(
	status: number,
	headers: Headers,
	bodyText: string | null,
	nowMs: number,
): FcmOutcome {
	if (status >= 200 && status <= 299) {
		return { kind: "accepted", messageId: parseJson(SendResponseSchema, bodyText)?.name ?? null };
	}
	const error = readGoogleError(bodyText);
	if (
		(status >= 400 && status <= 499 && error.errorCode === "UNREGISTERED") ||
		(status === 404 && error.status === "NOT_FOUND")
	) {
		return { kind: "gone" };
	}
	if (
		status === 429 ||
		(status >= 500 && status <= 599) ||
		(error.errorCode !== null && RETRYABLE_CODES.has(error.errorCode)) ||
		(error.status !== null && RETRYABLE_CODES.has(error.status))
	) {
		return { kind: "retry", retryAtMs: parseRetryAfter(headers.get("retry-after"), nowMs) };
	}
	return { kind: "failed", code: error.errorCode ?? error.status ?? `http_${status}` };
}

const TokenResponseSchema = z.object({
	access_token: z.string().min(1),
	expires_in: z.number().int().positive(),
	// The token is sent as `Authorization: Bearer`; any other type would be misused.
	token_type: z.string().regex(/^bearer$/i),
});

/** Options of {@link createFcmClient}. */
export interface FcmClientOptions {
	/** A service account parsed with {@link parseServiceAccount}. */
	serviceAccount: ServiceAccount;
	fetch: typeof fetch;
	/** Current time, epoch milliseconds. */
	now: () => number;
	/** Token endpoint; defaults to the service account's `token_uri`. */
	tokenUrl?: string;
	/** FCM API base URL; defaults to {@link DEFAULT_FCM_API_BASE_URL}. */
	apiBaseUrl?: string;
}

/** An FCM sender bound to one service account. */
export interface FcmClient {
	/**
	 * Sends one message to one device. Never throws for a bad response, a network error
	 * or a failed token request: they come back as outcomes.
	 *
	 * @throws {FcmError} only for invalid input, as {@link buildFcmMessage} does, before any request.
	 */
	send(token: string, message: FcmMessageInput): Promise<FcmOutcome>;
	/**
	 * A valid access token: cached until 60 s before it expires; concurrent callers share
	 * one request.
	 *
	 * @throws {FcmError} `oauth_failed` when the token endpoint refused or could not be
	 *   reached; `invalid_service_account` when the private key cannot be imported.
	 */
	accessToken(): Promise<string>;
}

/** What one token request came to: never a rejection, so sharers of the request all see it. */
type TokenResult = { ok: true; token: string } | { ok: false; error: FcmError; outcome: FcmOutcome };

/** Reads a body as text; `null` when the stream fails. */
async function readText(response: Response): Promise<string | null> {
	try {
		return await response.text();
	} catch {
		return null;
	}
}

/**
 * Creates an FCM HTTP v1 client for one service account.
 *
 * The signing key is imported once, on first use. The access token is cached until 60 s
 * before it expires and concurrent callers share one token request; a failed token
 * request is not cached. A 401 from FCM drops the cached token and the send is retried
 * once with a fresh one.
 *
 * @param opts - Service account, `fetch`, clock and optional endpoints.
 * @returns The client.
 * @example
 * const fcm = createFcmClient({ serviceAccount, fetch, now: Date.now });
 * const outcome = await fcm.send(device.fcmToken, offer);
 */
export function createFcmClient(opts: FcmClientOptions): FcmClient {
	const { serviceAccount, now } = opts;
	const doFetch = opts.fetch;
	const tokenUrl = opts.tokenUrl ?? serviceAccount.token_uri;
	const apiBaseUrl = (opts.apiBaseUrl ?? DEFAULT_FCM_API_BASE_URL).replace(/\/+$/, "");
	const sendUrl = `${apiBaseUrl}/v1/projects/${encodeURIComponent(serviceAccount.project_id)}/messages:send`;

	let key: Promise<CryptoKey> | null = null;
	let cached: { token: string; refreshAtMs: number } | null = null;
	let inFlight: Promise<TokenResult> | null = null;

	function failure(error: FcmError, outcome: FcmOutcome): TokenResult {
		return { ok: false, error, outcome };
	}

	async function requestToken(): Promise<TokenResult> {
		let signingKey: CryptoKey;
		try {
			// An import failure is a property of the key: keeping the rejected promise is right.
			key ??= importServiceAccountKey(serviceAccount.private_key);
			signingKey = await key;
		} catch (cause) {
			const error =
				cause instanceof FcmError ? cause : new FcmError("invalid_service_account", undefined, { cause });
			return failure(error, { kind: "failed", code: error.code });
		}

		const requestedAtMs = now();
		const assertion = await signJwt(
			buildJwtClaims(serviceAccount.client_email, tokenUrl, requestedAtMs),
			signingKey,
		);
		const body = new URLSearchParams({
			grant_type: "urn:ietf:params:oauth:grant-type:jwt-bearer",
			assertion,
		}).toString();

		let response: Response;
		try {
			response = await doFetch(tokenUrl, {
				method: "POST",
				headers: { "content-type": "application/x-www-form-urlencoded" },
				body,
				redirect: "manual",
			});
		} catch (cause) {
			return failure(new FcmError("oauth_failed", "token endpoint unreachable", { cause }), {
				kind: "retry",
				retryAtMs: null,
			});
		}
		const text = await readText(response);
		if (response.status === 429 || (response.status >= 500 && response.status <= 599)) {
			return failure(new FcmError("oauth_failed", `token endpoint answered ${response.status}`), {
				kind: "retry",
				retryAtMs: parseRetryAfter(response.headers.get("retry-after"), now()),
			});
		}
		const parsed = response.ok ? parseJson(TokenResponseSchema, text) : null;
		if (parsed === null) {
			const detail = response.ok ? "unreadable token response" : `token endpoint answered ${response.status}`;
			return failure(new FcmError("oauth_failed", detail), { kind: "failed", code: "oauth_failed" });
		}
		// Counted from when the request was made, so a slow answer never overstates the lifetime.
		cached = {
			token: parsed.access_token,
			refreshAtMs: requestedAtMs + parsed.expires_in * 1000 - TOKEN_REFRESH_MARGIN_MS,
		};
		return { ok: true, token: parsed.access_token };
	}

	function token(): Promise<TokenResult> {
		if (cached !== null && now() < cached.refreshAtMs)
			return Promise.resolve({ ok: true, token: cached.token });
		inFlight ??= requestToken().finally(() => {
			inFlight = null;
		});
		return inFlight;
	}

	async function post(accessToken: string, body: string): Promise<Response | null> {
		try {
			return await doFetch(sendUrl, {
				method: "POST",
				headers: {
					authorization: `Bearer ${accessToken}`,
					"content-type": "application/json; charset=utf-8",
				},
				body,
				redirect: "manual",
			});
		} catch {
			return null;
		}
	}

	async function send(deviceToken: string, input: FcmMessageInput): Promise<FcmOutcome> {
		const body = JSON.stringify(buildFcmMessage(deviceToken, input));
		for (let attempt = 0; ; attempt++) {
			const auth = await token();
			if (!auth.ok) return auth.outcome;
			const response = await post(auth.token, body);
			if (response === null) return { kind: "retry", retryAtMs: null };
			const text = await readText(response);
			if (response.status === 401 && attempt === 0) {
				// An APNs or web credential problem on the Firebase project: a new token cannot fix it.
				if (readGoogleError(text).errorCode !== "THIRD_PARTY_AUTH_ERROR") {
					// Only drop the token this send used: a concurrent send may have renewed it already.
					if (cached?.token === auth.token) cached = null;
					continue;
				}
			}
			return classifyFcmResponse(response.status, response.headers, text, now());
		}
	}

	async function accessToken(): Promise<string> {
		const result = await token();
		if (!result.ok) throw result.error;
		return result.token;
	}

	return { send, accessToken };
}
