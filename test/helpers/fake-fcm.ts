/**
 * A stand-in for Google's OAuth2 token endpoint and the FCM HTTP v1 send endpoint, as a
 * `fetch`-compatible function: it verifies the service account's RS256 assertion with
 * the public key, issues `tok-<n>` access tokens, checks each send's bearer token and
 * message shape, and answers per device token as a test scripts it. WebCrypto only, so
 * it runs in Node and workerd alike.
 */
import { z } from "zod";
import { DEFAULT_FCM_API_BASE_URL, DEFAULT_TOKEN_URL, FCM_SCOPE } from "../../src/push/fcm.js";

/** How the send endpoint answers for one device token. */
export type FakeFcmAnswer =
	/** 200 `{"name": "projects/<id>/messages/<n>"}`. */
	| { kind: "ok" }
	/** `UNREGISTERED`, with HTTP 404 (FCM's usual) unless told 400 or 403. */
	| { kind: "unregistered"; status?: 400 | 403 | 404 }
	/** 429 `QUOTA_EXCEEDED`, with `Retry-After` when given. */
	| { kind: "rate_limited"; retryAfter?: string }
	/** 503 `UNAVAILABLE`, with `Retry-After` when given. */
	| { kind: "unavailable"; retryAfter?: string }
	/** 400 `INVALID_ARGUMENT`. */
	| { kind: "invalid_argument" }
	/** 403 `SENDER_ID_MISMATCH`. */
	| { kind: "sender_id_mismatch" }
	/** 401 for the first send to this device token, then as `ok`. */
	| { kind: "unauthenticated_once" }
	/** 401 every time. */
	| { kind: "unauthenticated" };

/** One request the fake got. */
export interface FakeFcmRequest {
	kind: "token" | "send" | "unknown";
	url: string;
	/** The status the fake answered with. */
	status: number;
	/** Why the fake refused the request, if it did on its own (not scripted). */
	refusal?: string;
	/** Send: the bearer access token. */
	accessToken?: string;
	/** Send: the parsed JSON body. Token: the assertion's claims, when readable. */
	body?: unknown;
}

/** Options of {@link createFakeFcm}. */
export interface FakeFcmOptions {
	/** Public half of the service account's key; assertions are verified with it. */
	publicKey: CryptoKey;
	/** Clock for `iat`/`exp` checks and token expiry, epoch ms; `Date.now` by default. */
	now?: () => number;
	/** Expected `iss`; any non-empty issuer when omitted. */
	clientEmail?: string;
	/** Project id in the send path; `p` by default. */
	projectId?: string;
	tokenUrl?: string;
	apiBaseUrl?: string;
	/** Largest tolerated distance between `iat` and the fake's clock, seconds (60 by default). */
	clockSkewSeconds?: number;
}

/** A fake FCM. */
export interface FakeFcm {
	/** Pass to `createFcmClient({ fetch })`. */
	fetch: typeof fetch;
	/** Every request so far, oldest first. */
	requests: FakeFcmRequest[];
	/** Requests of one kind. */
	requestsOf(kind: FakeFcmRequest["kind"]): FakeFcmRequest[];
	/** Scripts the answer for sends to `deviceToken` (default `ok`). */
	answer(deviceToken: string, answer: FakeFcmAnswer): void;
	/** Makes the next `count` token requests fail with `status` (Google's `invalid_grant` body for 4xx). */
	failTokenRequests(count: number, status: number, headers?: Record<string, string>): void;
	/** Invalidates every access token issued so far. */
	revokeTokens(): void;
}

const ServiceAccountAssertionHeader = z.object({ alg: z.literal("RS256"), typ: z.literal("JWT") });
const AssertionClaims = z.object({
	iss: z.string().min(1),
	scope: z.string(),
	aud: z.string(),
	iat: z.number().int(),
	exp: z.number().int(),
});

/** The message shape the transport must produce; FCM requires string data values. */
const SendBodySchema = z.strictObject({
	message: z.strictObject({
		token: z.string().min(1),
		notification: z.strictObject({ title: z.string(), body: z.string(), image: z.url().optional() }),
		data: z.record(z.string(), z.string()),
		android: z.strictObject({
			ttl: z.string().regex(/^\d+(\.\d{1,9})?s$/),
			priority: z.enum(["high", "normal"]),
			collapse_key: z.string().min(1),
			notification: z.strictObject({ click_action: z.string().optional(), tag: z.string().min(1) }),
		}),
		apns: z.strictObject({
			headers: z.strictObject({
				"apns-priority": z.enum(["10", "5"]),
				"apns-expiration": z.string().regex(/^\d+$/),
				"apns-collapse-id": z.string().min(1).max(64),
			}),
			payload: z.strictObject({
				aps: z.strictObject({
					"mutable-content": z.literal(1),
					alert: z.strictObject({ title: z.string(), body: z.string() }),
				}),
			}),
		}),
		fcm_options: z.strictObject({ analytics_label: z.string() }).optional(),
	}),
});

const utf8 = new TextEncoder();

function decodeBase64Url(text: string): Uint8Array<ArrayBuffer> | null {
	if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
	try {
		const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
		const bytes = new Uint8Array(binary.length);
		for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
		return bytes;
	} catch {
		return null;
	}
}

function decodeJsonPart(part: string): unknown {
	const bytes = decodeBase64Url(part);
	if (bytes === null) return null;
	try {
		return JSON.parse(new TextDecoder().decode(bytes));
	} catch {
		return null;
	}
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
	return new Response(JSON.stringify(body), {
		status,
		headers: { "content-type": "application/json; charset=utf-8", ...headers },
	});
}

/** Google's v1 API error body, with an `FcmError` detail when `errorCode` is given. */
function googleError(code: number, status: string, errorCode?: string, headers?: Record<string, string>) {
	const details =
		errorCode === undefined
			? undefined
			: [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode }];
	return json(code, { error: { code, message: `fake ${status}`, status, details } }, headers);
}

/**
 * Creates a fake FCM whose `fetch` serves the token endpoint and the send endpoint.
 *
 * @param opts - The public key to verify assertions with, and optional clock and endpoints.
 * @returns The fake, with its request log and scripting methods.
 */
export function createFakeFcm(opts: FakeFcmOptions): FakeFcm {
	const now = opts.now ?? Date.now;
	const tokenUrl = opts.tokenUrl ?? DEFAULT_TOKEN_URL;
	const apiBaseUrl = opts.apiBaseUrl ?? DEFAULT_FCM_API_BASE_URL;
	const projectId = opts.projectId ?? "p";
	const sendUrl = `${apiBaseUrl}/v1/projects/${projectId}/messages:send`;
	const skewSeconds = opts.clockSkewSeconds ?? 60;

	const requests: FakeFcmRequest[] = [];
	const answers = new Map<string, FakeFcmAnswer>();
	const unauthenticatedOnceDone = new Set<string>();
	const liveTokens = new Map<string, number>();
	const tokenFailures: { status: number; headers: Record<string, string> }[] = [];
	let issued = 0;
	let sent = 0;

	function log(entry: FakeFcmRequest, response: Response): Response {
		requests.push({ ...entry, status: response.status });
		return response;
	}

	async function verifyAssertion(assertion: string): Promise<{ claims?: unknown; refusal?: string }> {
		const parts = assertion.split(".");
		const [headerPart, claimsPart, signaturePart] = parts;
		if (
			parts.length !== 3 ||
			headerPart === undefined ||
			claimsPart === undefined ||
			signaturePart === undefined
		) {
			return { refusal: "assertion is not a compact JWT" };
		}
		const claimsJson = decodeJsonPart(claimsPart);
		if (!ServiceAccountAssertionHeader.safeParse(decodeJsonPart(headerPart)).success) {
			return { claims: claimsJson, refusal: "header is not RS256/JWT" };
		}
		const signature = decodeBase64Url(signaturePart);
		const valid =
			signature !== null &&
			(await crypto.subtle.verify(
				"RSASSA-PKCS1-v1_5",
				opts.publicKey,
				signature,
				utf8.encode(`${headerPart}.${claimsPart}`),
			));
		if (!valid) return { claims: claimsJson, refusal: "bad signature" };
		const claims = AssertionClaims.safeParse(claimsJson);
		if (!claims.success) return { claims: claimsJson, refusal: "claims missing" };
		const { iss, scope, aud, iat, exp } = claims.data;
		const nowSeconds = now() / 1000;
		if (opts.clientEmail !== undefined && iss !== opts.clientEmail)
			return { claims: claimsJson, refusal: "iss" };
		if (!scope.split(" ").includes(FCM_SCOPE)) return { claims: claimsJson, refusal: "scope" };
		if (aud !== tokenUrl) return { claims: claimsJson, refusal: "aud" };
		if (Math.abs(iat - nowSeconds) > skewSeconds) return { claims: claimsJson, refusal: "iat" };
		if (exp <= iat || exp - iat > 3600 || exp <= nowSeconds) return { claims: claimsJson, refusal: "exp" };
		return { claims: claimsJson };
	}

	async function serveToken(request: Request): Promise<Response> {
		const entry: FakeFcmRequest = { kind: "token", url: request.url, status: 0 };
		const scripted = tokenFailures.shift();
		if (scripted !== undefined) {
			const body =
				scripted.status < 500
					? { error: "invalid_grant", error_description: "scripted failure" }
					: { error: "internal_failure" };
			return log({ ...entry, refusal: "scripted" }, json(scripted.status, body, scripted.headers));
		}
		const refuse = (refusal: string) =>
			log({ ...entry, refusal }, json(400, { error: "invalid_grant", error_description: refusal }));
		if (request.method !== "POST") return refuse("method");
		if (!(request.headers.get("content-type") ?? "").startsWith("application/x-www-form-urlencoded")) {
			return refuse("content-type");
		}
		const form = new URLSearchParams(await request.text());
		if (form.get("grant_type") !== "urn:ietf:params:oauth:grant-type:jwt-bearer") return refuse("grant_type");
		const verdict = await verifyAssertion(form.get("assertion") ?? "");
		entry.body = verdict.claims;
		if (verdict.refusal !== undefined) return refuse(verdict.refusal);
		issued += 1;
		const accessToken = `tok-${issued}`;
		liveTokens.set(accessToken, now() + 3600_000);
		return log(entry, json(200, { access_token: accessToken, expires_in: 3600, token_type: "Bearer" }));
	}

	async function serveSend(request: Request): Promise<Response> {
		const entry: FakeFcmRequest = { kind: "send", url: request.url, status: 0 };
		const bearer = /^Bearer (.+)$/.exec(request.headers.get("authorization") ?? "")?.[1];
		if (bearer !== undefined) entry.accessToken = bearer;
		let body: unknown;
		try {
			body = JSON.parse(await request.text());
		} catch {
			body = undefined;
		}
		entry.body = body;
		const expiresAt = bearer === undefined ? undefined : liveTokens.get(bearer);
		if (expiresAt === undefined || now() >= expiresAt) {
			return log({ ...entry, refusal: "access token not live" }, googleError(401, "UNAUTHENTICATED"));
		}
		if (request.method !== "POST")
			return log({ ...entry, refusal: "method" }, googleError(405, "INVALID_ARGUMENT"));
		const parsed = SendBodySchema.safeParse(body);
		if (!parsed.success) {
			const refusal = parsed.error.issues.map((i) => i.path.join(".")).join(", ");
			return log({ ...entry, refusal }, googleError(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"));
		}
		const deviceToken = parsed.data.message.token;
		const answer = answers.get(deviceToken) ?? { kind: "ok" };
		switch (answer.kind) {
			case "unregistered": {
				const status = answer.status ?? 404;
				const statusText =
					status === 404 ? "NOT_FOUND" : status === 403 ? "PERMISSION_DENIED" : "INVALID_ARGUMENT";
				return log(entry, googleError(status, statusText, "UNREGISTERED"));
			}
			case "rate_limited":
				return log(
					entry,
					googleError(
						429,
						"RESOURCE_EXHAUSTED",
						"QUOTA_EXCEEDED",
						answer.retryAfter === undefined ? {} : { "retry-after": answer.retryAfter },
					),
				);
			case "unavailable":
				return log(
					entry,
					googleError(
						503,
						"UNAVAILABLE",
						"UNAVAILABLE",
						answer.retryAfter === undefined ? {} : { "retry-after": answer.retryAfter },
					),
				);
			case "invalid_argument":
				return log(entry, googleError(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"));
			case "sender_id_mismatch":
				return log(entry, googleError(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"));
			case "unauthenticated":
				return log(entry, googleError(401, "UNAUTHENTICATED"));
			case "unauthenticated_once":
				if (!unauthenticatedOnceDone.has(deviceToken)) {
					unauthenticatedOnceDone.add(deviceToken);
					return log(entry, googleError(401, "UNAUTHENTICATED"));
				}
				break;
			case "ok":
				break;
		}
		sent += 1;
		return log(entry, json(200, { name: `projects/${projectId}/messages/${sent}` }));
	}

	async function fakeFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
		const request = new Request(input, init);
		if (request.url === tokenUrl) return serveToken(request);
		if (request.url === sendUrl) return serveSend(request);
		return log({ kind: "unknown", url: request.url, status: 0 }, new Response("not found", { status: 404 }));
	}

	return {
		fetch: fakeFetch,
		requests,
		requestsOf: (kind) => requests.filter((r) => r.kind === kind),
		answer(deviceToken, answer) {
			answers.set(deviceToken, answer);
		},
		failTokenRequests(count, status, headers = {}) {
			for (let i = 0; i < count; i++) tokenFailures.push({ status, headers });
		},
		revokeTokens() {
			liveTokens.clear();
		},
	};
}

/** A generated service account: its key file text and both key halves. */
export interface TestServiceAccount {
	/** The key file, as `parseServiceAccount` takes it. */
	json: string;
	clientEmail: string;
	projectId: string;
	privateKeyPem: string;
	publicKey: CryptoKey;
}

/**
 * Generates an RSA-2048 key pair and a service-account key file around it.
 *
 * @param overrides - Project id and client email; `p` and `sender@p.iam.gserviceaccount.com` by default.
 * @returns The key file and the public key for {@link createFakeFcm}.
 */
export async function generateTestServiceAccount(
	overrides: { projectId?: string; clientEmail?: string; tokenUri?: string } = {},
): Promise<TestServiceAccount> {
	const pair = await crypto.subtle.generateKey(
		{
			name: "RSASSA-PKCS1-v1_5",
			modulusLength: 2048,
			publicExponent: new Uint8Array([1, 0, 1]),
			hash: "SHA-256",
		},
		true,
		["sign", "verify"],
	);
	// The workers typings cover symmetric keys too: narrow to a key pair and a DER buffer.
	if (!("privateKey" in pair)) throw new Error("generateKey did not return a key pair");
	const exported = await crypto.subtle.exportKey("pkcs8", pair.privateKey);
	if (!(exported instanceof ArrayBuffer)) throw new Error("pkcs8 export did not return bytes");
	const der = new Uint8Array(exported);
	let binary = "";
	for (const byte of der) binary += String.fromCharCode(byte);
	const lines = btoa(binary).match(/.{1,64}/g) ?? [];
	const privateKeyPem = `-----BEGIN PRIVATE KEY-----\n${lines.join("\n")}\n-----END PRIVATE KEY-----\n`;
	const projectId = overrides.projectId ?? "p";
	const clientEmail = overrides.clientEmail ?? `sender@${projectId}.iam.gserviceaccount.com`;
	const json = JSON.stringify({
		type: "service_account",
		project_id: projectId,
		private_key_id: "0123456789abcdef",
		private_key: privateKeyPem,
		client_email: clientEmail,
		client_id: "1234567890",
		auth_uri: "https://accounts.google.com/o/oauth2/auth",
		token_uri: overrides.tokenUri ?? DEFAULT_TOKEN_URL,
	});
	return { json, clientEmail, projectId, privateKeyPem, publicKey: pair.publicKey };
}
