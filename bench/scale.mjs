// "Scale on paper" (bench/README.md): the load on the busiest Durable Object for a city of
// one million active app users pinging every two minutes, from the service's own shard key
// (worker/shards.ts) applied to the matcher benchmark's seeded city and pings.
//
//   npm run bench:scale [-- --users=1000000 --interval=120 --pings=200000 --fences=10000]
//
// Prints a table, writes bench/results/scale.json and regenerates the table in bench/README.md.
import "./lib/ts-hooks.mjs";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { makeCity, makePings } from "./lib/city.mjs";
import { measuredCode } from "./lib/git-state.mjs";
import { replaceBlock } from "./lib/readme-block.mjs";

const {
	shardKeyOfPoint,
	shardKeysOfFence,
	SHARD_MAX_FENCES,
	SHARD_REPLICAS,
	SHARD_REQUEST_BUDGET,
	MAX_SHARD_REPLICAS,
	replicasWanted,
} = await import("../worker/shards.ts");
const { shardOfPoint, layoutFor, ROOT_SHARD_RESOLUTION } = await import("../src/geo/shard.ts");
const { readFenceShape } = await import("../src/geo/fence-input.ts");

const here = dirname(fileURLToPath(import.meta.url));
const args = Object.fromEntries(
	process.argv.slice(2).map((a) => {
		const [k, v] = a.replace(/^--/, "").split("=");
		return [k, v ?? true];
	}),
);
const users = Number(args.users ?? 1_000_000);
const intervalSeconds = Number(args.interval ?? 120);
const sample = Number(args.pings ?? 200_000);
const fenceCount = Number(args.fences ?? 10_000);
// Cloudflare documents a soft limit of about 1,000 requests per second for one Durable Object
// (each object is single-threaded; the figure assumes cheap requests, which a shard query is).
const OBJECT_LIMIT_PER_SECOND = 1_000;
const SEED = 0x5eed_0005;

// One metropolitan area: the matcher benchmark's city model with one city (2,000 fences), whose
// residents spread as a Gaussian of about 10 km standard deviation; 12 % of pings are near a
// store, 8 % anywhere in a 45 km square.
const city = makeCity(2_000, SEED);
const { pings } = makePings(city, sample, SEED + 1);
const pingsPerSecond = users / intervalSeconds;
// The layout the service would reach for this city's stores (leaves split past their budget).
const citySplits = layoutFor(
	city.features.map((f, i) => readFenceShape(f, i)),
	SHARD_MAX_FENCES,
);

const byCell = new Map();
const byObject = new Map();
for (let i = 0; i < sample; i++) {
	const lat = pings[2 * i];
	const lng = pings[2 * i + 1];
	const cell = shardOfPoint(lat, lng);
	byCell.set(cell, (byCell.get(cell) ?? 0) + 1);
	// The sampled pings come from different people (the sample is smaller than the population);
	// the replica follows the person's id.
	const key = shardKeyOfPoint(lat, lng, `user-${i % users}`, citySplits);
	byObject.set(key, (byObject.get(key) ?? 0) + 1);
}
const busiestCellShare = Math.max(...byCell.values()) / sample;
const busiestObjectShare = Math.max(...byObject.values()) / sample;

// Pings answered from the person's neighbourhood copy never reach a shard: the share that does is
// measured by bench:e2e on its commute trace (queries a request), unless given (--shard-share=).
const e2eFile = join(here, "results", "e2e.json");
const measuredShare = existsSync(e2eFile)
	? JSON.parse(readFileSync(e2eFile, "utf8"))?.meters?.commute?.costs?.perRequest?.durableObjectCallsByMethod
			?.query
	: undefined;
const shardShare = Number(args["shard-share"] ?? measuredShare ?? 1);
const shardShareFrom =
	args["shard-share"] !== undefined
		? "--shard-share"
		: measuredShare !== undefined
			? "bench/results/e2e.json (commute)"
			: "assumed: every ping";
const busiestLeafRate = busiestObjectShare * pingsPerSecond * shardShare;
// A leaf past its budget grows to what its measured rate needs (worker/geoshard.ts grow), again
// if that is still not enough.
let replicasNeeded = 1;
while (replicasNeeded < MAX_SHARD_REPLICAS && busiestLeafRate / replicasNeeded > SHARD_REQUEST_BUDGET)
	replicasNeeded = replicasWanted(busiestLeafRate / replicasNeeded, replicasNeeded, SHARD_REQUEST_BUDGET);

// Fences per shard object for a tenant with `fenceCount` fences (the e2e benchmark's world).
const world = makeCity(fenceCount, SEED);
const worldFences = world.features.map((f, i) => readFenceShape(f, i));
const worldSplits = layoutFor(worldFences, SHARD_MAX_FENCES);
const perObject = new Map();
for (const f of worldFences)
	for (const k of shardKeysOfFence(f, worldSplits)) perObject.set(k, (perObject.get(k) ?? 0) + 1);
const copies = [...perObject.values()].reduce((a, b) => a + b, 0);
const maxFencesPerObject = Math.max(...perObject.values());

const rows = [
	["active app users", users],
	["ping interval (s)", intervalSeconds],
	["pings per second, city-wide", pingsPerSecond],
	["Durable Object calls per ping, without the neighbourhood copy (person + shard)", 2],
	[`shard calls a ping with the person's neighbourhood copy (${shardShareFrom})`, shardShare],
	["calls per second on one person's object", 1 / intervalSeconds],
	[`unsplit layout (one res-${ROOT_SHARD_RESOLUTION} leaf): busiest share of pings`, busiestCellShare],
	["unsplit layout: busiest object requests/s", busiestCellShare * pingsPerSecond],
	[`split cells at ${SHARD_MAX_FENCES} fences a leaf (the city's 2,000 stores)`, citySplits.size],
	[`busiest leaf (${SHARD_REPLICAS} object a leaf): share of pings`, busiestObjectShare],
	["busiest leaf: requests/s if every ping reached its shard", busiestObjectShare * pingsPerSecond],
	["busiest leaf: requests/s with the neighbourhood copy", busiestLeafRate],
	[`objects it grows to (budget ${SHARD_REQUEST_BUDGET} requests/s an object)`, replicasNeeded],
	["busiest object after growing: requests/s", busiestLeafRate / replicasNeeded],
	["documented soft limit per object: requests/s", OBJECT_LIMIT_PER_SECOND],
	[`most fences in one shard object (${fenceCount.toLocaleString("en")} fences)`, maxFencesPerObject],
	["shard objects holding fences", perObject.size],
	["stored copies per fence (buffer overlap)", copies / worldFences.length],
];
const fmt = (v) => (v < 1 && !Number.isInteger(v) ? v.toFixed(3) : Math.round(v).toLocaleString("en"));
const markdown = [
	"| quantity | value |",
	"| -------- | ----: |",
	...rows.map(([k, v]) => `| ${k} | ${fmt(v)} |`),
].join("\n");
console.log(markdown);

const report = {
	benchmark: "scale on paper: Durable Object load for a city of active users",
	command: "npm run bench:scale",
	date: new Date().toISOString(),
	code: measuredCode(join(here, ".."), ["worker/shards.ts", "src/geo", "bench/lib", "bench/scale.mjs"]),
	inputs: {
		users,
		intervalSeconds,
		samplePings: sample,
		fenceCount,
		objectLimitPerSecond: OBJECT_LIMIT_PER_SECOND,
	},
	results: {
		pingsPerSecond,
		objectCallsPerPing: 2,
		busiestCellShare,
		busiestCellRequestsPerSecond: busiestCellShare * pingsPerSecond,
		shardReplicas: SHARD_REPLICAS,
		shardMaxFences: SHARD_MAX_FENCES,
		citySplitCells: citySplits.size,
		copiesPerFence: copies / worldFences.length,
		busiestObjectShare,
		busiestObjectRequestsPerSecond: busiestObjectShare * pingsPerSecond,
		shardCallsPerPing: shardShare,
		shardCallsPerPingFrom: shardShareFrom,
		busiestLeafRequestsPerSecondWithNeighbourhood: busiestLeafRate,
		shardRequestBudget: SHARD_REQUEST_BUDGET,
		replicasNeeded,
		maxFencesPerObject,
		shardObjectsWithFences: perObject.size,
	},
};
mkdirSync(join(here, "results"), { recursive: true });
writeFileSync(join(here, "results", "scale.json"), `${JSON.stringify(report, null, "\t")}\n`);
console.log("wrote bench/results/scale.json");
replaceBlock(join(here, "README.md"), "scale:results", markdown);
console.log("bench/README.md: scale table regenerated");
