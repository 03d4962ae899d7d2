import { useState } from "preact/hooks";
import { validateFeatureCollection } from "../../../src/geo/validate.js";
import { api } from "../api.js";
import { t } from "../i18n.js";
import type { DrawnShape, StoreMap } from "../map.js";
import { errorText, Field, Status } from "../ui.js";

/**
 * Draw a new store on the map (terra-draw): a polygon or a circle, then its id, name and tags;
 * checked with the service's validator, then saved with `PUT /v1/geofences` (one store).
 */
export function DrawPanel({ map, onSaved }: { map: StoreMap | null; onSaved: () => void }) {
	const [mode, setMode] = useState<"polygon" | "circle" | null>(null);
	const [shape, setShape] = useState<DrawnShape | null>(null);
	const [form, setForm] = useState({ id: "", name: "", tags: "", radius: "" });
	const [status, setStatus] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
	if (!map) return null;

	const start = async (m: "polygon" | "circle") => {
		setStatus(null);
		setShape(null);
		setMode(m);
		const drawn = await map.draw(m);
		setMode(null);
		if (!drawn) return;
		setShape(drawn);
		setForm((f) => ({ ...f, radius: drawn.type === "Point" ? String(drawn.radius) : "" }));
	};

	const save = async (e: Event) => {
		e.preventDefault();
		if (!shape) return;
		const radius = Number(form.radius);
		const properties: Record<string, unknown> = { id: form.id.trim() };
		if (form.name.trim()) properties.name = form.name.trim();
		const tags = form.tags
			.split(",")
			.map((x) => x.trim())
			.filter(Boolean);
		if (tags.length) properties.tags = tags;
		if (shape.type === "Point") properties.radius = Number.isFinite(radius) ? radius : form.radius;
		const feature = {
			type: "Feature",
			geometry: shape.type === "Point" ? { type: "Point", coordinates: shape.coordinates } : shape,
			properties,
		};
		const body = { type: "FeatureCollection", features: [feature] };
		const checked = validateFeatureCollection(body);
		if (!checked.ok) {
			setStatus({
				kind: "error",
				text: checked.errors.map((x) => `${x.path.slice(2).join(".")}: ${x.message}`).join("; "),
			});
			return;
		}
		try {
			await api("PUT", "/v1/geofences", body);
			setStatus({ kind: "ok", text: t("drawSaved", { id: String(properties.id) }) });
			setShape(null);
			setForm({ id: "", name: "", tags: "", radius: "" });
			onSaved();
		} catch (x) {
			setStatus({ kind: "error", text: errorText(x) });
		}
	};

	return (
		<div class="draw">
			<div class="row">
				<button type="button" disabled={mode !== null} onClick={() => void start("polygon")}>
					{t("drawPolygon")}
				</button>
				<button type="button" disabled={mode !== null} onClick={() => void start("circle")}>
					{t("drawCircle")}
				</button>
				{mode && (
					<button type="button" onClick={() => map.stopDrawing()}>
						{t("cancel")}
					</button>
				)}
			</div>
			{mode && <Status>{mode === "polygon" ? t("drawPolygonHelp") : t("drawCircleHelp")}</Status>}
			{shape && (
				<form class="panel" onSubmit={save} aria-label={t("drawNew")}>
					<p>{shape.type === "Point" ? t("drawnCircle") : t("drawnPolygon")}</p>
					<div class="grid2">
						<Field label={t("id")} id="draw-id">
							<input
								id="draw-id"
								required
								value={form.id}
								onInput={(e) => setForm({ ...form, id: e.currentTarget.value })}
							/>
						</Field>
						<Field label={t("name")} id="draw-name">
							<input
								id="draw-name"
								value={form.name}
								onInput={(e) => setForm({ ...form, name: e.currentTarget.value })}
							/>
						</Field>
						<Field label={t("triggerTags")} id="draw-tags">
							<input
								id="draw-tags"
								value={form.tags}
								onInput={(e) => setForm({ ...form, tags: e.currentTarget.value })}
							/>
						</Field>
						{shape.type === "Point" && (
							<Field label={t("radiusMeters")} id="draw-radius">
								<input
									id="draw-radius"
									type="number"
									value={form.radius}
									onInput={(e) => setForm({ ...form, radius: e.currentTarget.value })}
								/>
							</Field>
						)}
					</div>
					<div class="row">
						<button type="submit" class="primary">
							{t("save")}
						</button>
						<button type="button" onClick={() => setShape(null)}>
							{t("cancel")}
						</button>
					</div>
				</form>
			)}
			{status && <Status kind={status.kind}>{status.text}</Status>}
		</div>
	);
}
