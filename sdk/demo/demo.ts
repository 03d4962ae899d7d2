/**
 * The demo shop at /demo/ (local development only): the SDK loaded from the service as a site
 * would, a person signed in with the keys `npm start` puts in the page's address (after `#`, so
 * they never reach a server), and a button that walks into one of the sample stores.
 */
type Sdk = typeof import("../web/src/index.js");

interface StoreFeature {
	geometry: { type: string; coordinates: [number, number] };
	properties: { id: string; name: string; radius?: number; tags?: string[] };
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const log = (line: string) => {
	const el = $("log");
	el.textContent = `${new Date().toLocaleTimeString()}  ${line}\n${el.textContent ?? ""}`;
};

const params = new URLSearchParams(location.hash.slice(1));
const pk = params.get("pk");
const ut = params.get("ut");
const userId = params.get("user") ?? "alice";

/** The point `north` metres north of `p`. */
const north = (p: { lat: number; lng: number }, m: number) => ({ lat: p.lat + m / 111_195, lng: p.lng });

function distanceM(a: { lat: number; lng: number }, b: { lat: number; lng: number }): number {
	const k = Math.PI / 180;
	const x = (b.lng - a.lng) * k * Math.cos(((a.lat + b.lat) / 2) * k);
	const y = (b.lat - a.lat) * k;
	return Math.sqrt(x * x + y * y) * 6_371_000;
}

async function main(): Promise<void> {
	if (!pk || !ut) {
		$("missing").hidden = false;
		return;
	}
	$("who").textContent = userId;
	const sdkUrl = "/sdk/edge-offers.js";
	const offers = (await import(sdkUrl)) as Sdk;
	offers.on("enter", (e) => log(`enter ${e.geofenceId}`));
	offers.on("exit", (e) => log(`exit ${e.geofenceId}`));
	offers.on("decision", (d) => {
		if (d.decision !== "sent")
			log(
				`no offer from ${d.campaignId}: ${d.decision}${d.reason ? ` (${d.reason})` : ""}${d.reason === "quiet_hours" ? " — it is quiet hours in Paris (21:00-09:00)" : ""}`,
			);
	});
	offers.on("sent", (b) => log(`batch ${b.batchId} accepted (${b.pings} pings)`));
	offers.on("error", (e) => log(`error ${e.code}${e.status ? ` (${e.status})` : ""}`));
	offers.on("offer", (o) => {
		log(`offer ${o.offerId ?? ""} from campaign ${o.campaignId}`);
		$("offer").hidden = false;
		$("offer-title").textContent = typeof o.title === "string" ? o.title : "An offer was sent to you";
		$("offer-body").textContent =
			typeof o.body === "string"
				? o.body
				: "Its text went to Alice's devices as a push: the terminal running npm start prints it.";
		$("offer-meta").textContent = `campaign ${o.campaignId}, offer ${o.offerId ?? "?"}`;
	});
	await offers.init({
		baseUrl: location.origin,
		publishableKey: pk,
		userId,
		userToken: ut,
		serviceWorkerUrl: "/sdk/edge-offers-sw.js",
		serviceWorkerScope: "/demo/",
	});
	await offers.setProfile({ firstName: userId.charAt(0).toUpperCase() + userId.slice(1) });
	await offers.setConsent({ location: true, push: true });
	log(`signed in as ${userId}; ${await offers.pending()} pings waiting from an earlier visit`);

	const stores = (
		(await (await fetch("./stores.json")).json()) as { features: StoreFeature[] }
	).features.filter((f) => f.geometry.type === "Point" && f.properties.tags?.includes("grocery"));
	const select = $<HTMLSelectElement>("store");
	for (const s of stores) select.add(new Option(s.properties.name, s.properties.id));

	let last: { lat: number; lng: number; t: number } | null = null;
	const walk = $<HTMLButtonElement>("walk");
	walk.addEventListener("click", async () => {
		const store = stores.find((s) => s.properties.id === select.value);
		if (!store) return;
		walk.disabled = true;
		const [lng, lat] = store.geometry.coordinates;
		const inside = { lat, lng };
		const outside = north(inside, (store.properties.radius ?? 100) + 150);
		// The service drops pings that imply more than 100 m/s: "walk" no faster than 60 m/s.
		const wait = last ? Math.max(0, last.t + (distanceM(last, outside) / 60) * 1000 + 5_000 - Date.now()) : 0;
		if (wait > 0) {
			log(`walking to ${store.properties.name}… (${Math.ceil(wait / 1000)} s)`);
			await new Promise((r) => setTimeout(r, wait));
		}
		const now = Date.now();
		await offers.track({ ...outside, accuracy: 10, timestamp: now - 5_000 });
		await offers.track({ ...inside, accuracy: 10, timestamp: now });
		last = { ...inside, t: now };
		log(`walked into ${store.properties.name}`);
		await offers.flush();
		$("queue").textContent = `${await offers.pending()} pings waiting to be sent`;
		walk.disabled = false;
		select.selectedIndex = (select.selectedIndex + 1) % stores.length;
	});

	$("real").addEventListener("click", () => {
		offers.startTracking({ mode: "responsive" });
		log("tracking the device's real position (responsive mode)");
	});

	$("push").addEventListener("click", async () => {
		try {
			const sub = await offers.enablePush();
			log(`push enabled: ${new URL(sub.endpoint).host}`);
		} catch (e) {
			log(`push not enabled: ${e instanceof Error ? e.message : String(e)}`);
		}
	});
}

main().catch((e) => log(`failed: ${e instanceof Error ? e.message : String(e)}`));
