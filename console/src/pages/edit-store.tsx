import { useEffect, useRef, useState } from "preact/hooks";
import { validateFeatureCollection } from "../../../src/geo/validate.js";
import { api } from "../api.js";
import {
	addCorner,
	type Corner,
	type EditForm,
	featureOf,
	formOf,
	type ShapeForm,
	shapeOf,
	withShape,
} from "../edit-shape.js";
import type { Feature } from "../geojson.js";
import { t } from "../i18n.js";
import type { ShapeEditor, StoreMap } from "../map.js";
import { errorText, Field, Status } from "../ui.js";

/**
 * Edits a stored store: name, tags, and its shape, either in the fields (keyboard) or by
 * dragging it on the map (terra-draw), the two kept in step; checked with the service's
 * validator, then saved with `PUT /v1/geofences` (that one store, its other properties kept).
 */
export function EditStore({
	feature,
	map,
	onSaved,
	onClose,
}: {
	feature: Feature;
	map: StoreMap | null;
	onSaved: (id: string) => void;
	onClose: () => void;
}) {
	const id = feature.properties.id;
	const [form, setForm] = useState<EditForm>(() => formOf(feature));
	const [status, setStatus] = useState<{ kind: "ok" | "error"; text: string } | null>(null);
	const [onMap, setOnMap] = useState(false);
	const editor = useRef<ShapeEditor | null>(null);
	const heading = useRef<HTMLHeadingElement>(null);

	useEffect(() => {
		setForm(formOf(feature));
		setStatus(null);
		heading.current?.focus();
	}, [feature]);
	// The map's editor ends with the panel (or when another store is edited).
	useEffect(
		() => () => {
			editor.current?.stop();
			editor.current = null;
		},
		[feature],
	);

	const change = (next: EditForm, fromMap = false) => {
		setForm(next);
		if (!fromMap && editor.current) {
			const s = shapeOf(next.shape);
			if (s) editor.current.update(s);
		}
	};
	const setShape = (shape: ShapeForm) => change({ ...form, shape });
	const formRef = useRef(form);
	formRef.current = form;

	const toggleMap = () => {
		if (editor.current) {
			editor.current.stop();
			editor.current = null;
			setOnMap(false);
			return;
		}
		const s = shapeOf(form.shape);
		if (!map || !s) return;
		map.select(id);
		editor.current = map.edit(s, (next) => {
			// The map edits the outer ring; the form's holes stay.
			const f = formRef.current;
			const holes = f.shape.kind === "polygon" ? f.shape.holes : [];
			const shape =
				next.type === "Polygon" ? { ...next, coordinates: [next.coordinates[0] ?? [], ...holes] } : next;
			change(withShape(f, shape), true);
		});
		setOnMap(true);
	};

	const save = async (e: Event) => {
		e.preventDefault();
		const body = { type: "FeatureCollection", features: [featureOf(feature, form)] };
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
			editor.current?.stop();
			editor.current = null;
			setOnMap(false);
			setStatus({ kind: "ok", text: t("drawSaved", { id }) });
			onSaved(id);
		} catch (x) {
			setStatus({ kind: "error", text: errorText(x) });
		}
	};

	const s = form.shape;
	const corner = (i: number, patch: Partial<Corner>) =>
		s.kind === "polygon" &&
		setShape({ ...s, corners: s.corners.map((c, j) => (j === i ? { ...c, ...patch } : c)) });

	return (
		<form class="panel" onSubmit={save} aria-labelledby="edit-title" data-testid="edit-store">
			<h2 id="edit-title" tabIndex={-1} ref={heading}>
				{t("editStore", { id })}
			</h2>
			<div class="grid2">
				<Field label={t("name")} id="edit-name">
					<input
						id="edit-name"
						value={form.name}
						onInput={(e) => change({ ...form, name: e.currentTarget.value })}
					/>
				</Field>
				<Field label={t("triggerTags")} id="edit-tags">
					<input
						id="edit-tags"
						value={form.tags}
						onInput={(e) => change({ ...form, tags: e.currentTarget.value })}
					/>
				</Field>
				{s.kind === "circle" && (
					<>
						<Field label={t("centreLng")} id="edit-lng">
							<input
								id="edit-lng"
								inputMode="decimal"
								value={s.lng}
								onInput={(e) => setShape({ ...s, lng: e.currentTarget.value })}
							/>
						</Field>
						<Field label={t("centreLat")} id="edit-lat">
							<input
								id="edit-lat"
								inputMode="decimal"
								value={s.lat}
								onInput={(e) => setShape({ ...s, lat: e.currentTarget.value })}
							/>
						</Field>
						<Field label={t("radiusMeters")} id="edit-radius">
							<input
								id="edit-radius"
								inputMode="decimal"
								value={s.radius}
								onInput={(e) => setShape({ ...s, radius: e.currentTarget.value })}
							/>
						</Field>
					</>
				)}
			</div>
			{s.kind === "polygon" && (
				<fieldset class="corners">
					<legend>{t("corners")}</legend>
					<ol>
						{s.corners.map((c, i) => (
							<li key={i} class="row">
								<input
									aria-label={t("cornerLng", { n: i + 1 })}
									inputMode="decimal"
									size={11}
									value={c.lng}
									onInput={(e) => corner(i, { lng: e.currentTarget.value })}
								/>
								<input
									aria-label={t("cornerLat", { n: i + 1 })}
									inputMode="decimal"
									size={11}
									value={c.lat}
									onInput={(e) => corner(i, { lat: e.currentTarget.value })}
								/>
								<button
									type="button"
									aria-label={t("removeCorner", { n: i + 1 })}
									disabled={s.corners.length <= 3}
									onClick={() => setShape({ ...s, corners: s.corners.filter((_, j) => j !== i) })}
								>
									×
								</button>
							</li>
						))}
					</ol>
					<button type="button" onClick={() => setShape({ ...s, corners: addCorner(s.corners) })}>
						{t("addCorner")}
					</button>
					{s.holes.length > 0 && <p class="muted">{t("holesKept", { n: s.holes.length })}</p>}
				</fieldset>
			)}
			{s.kind === "multi" && <p class="muted">{t("multiNotEditable")}</p>}
			{s.kind !== "multi" && map && (
				<>
					<button type="button" aria-pressed={onMap} onClick={toggleMap}>
						{onMap ? t("editStopMap") : t("editOnMap")}
					</button>
					{onMap && <p class="muted">{t("editOnMapHelp")}</p>}
				</>
			)}
			<div class="row">
				<button type="submit" class="primary">
					{t("save")}
				</button>
				<button type="button" onClick={onClose}>
					{t("cancel")}
				</button>
			</div>
			{status && <Status kind={status.kind}>{status.text}</Status>}
		</form>
	);
}
