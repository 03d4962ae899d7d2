import { useState } from "preact/hooks";
import { ApiError } from "../api.js";
import { fmtNumber, t } from "../i18n.js";
import { type CheckedFile, checkFile, parseStoreFile } from "../importer.js";
import { errorText, Status, scrollable } from "../ui.js";
import { type UploadResult, uploadStores } from "../upload.js";

type State =
	| { step: "idle" }
	| { step: "checking"; name: string }
	| { step: "checked"; name: string; file: CheckedFile }
	| { step: "uploading"; file: CheckedFile; done: number; total: number }
	| { step: "done"; result: UploadResult }
	| { step: "failed"; message: string; file?: CheckedFile };

/**
 * Import: the file is parsed and validated here with the service's own validator; every
 * problem is listed with its line, and the upload button exists only for a clean file.
 */
export function ImportPanel({ onUploaded }: { onUploaded: () => void }) {
	const [state, setState] = useState<State>({ step: "idle" });

	const choose = async (input: HTMLInputElement) => {
		const f = input.files?.[0];
		if (!f) return;
		setState({ step: "checking", name: f.name });
		try {
			const parsed = await parseStoreFile(f.name, await f.text());
			// Let the "checking" status paint before a long validation.
			await new Promise((r) => setTimeout(r, 0));
			setState({ step: "checked", name: f.name, file: checkFile(parsed) });
		} catch (e) {
			setState({ step: "failed", message: errorText(e) });
		}
	};

	const upload = async (file: CheckedFile) => {
		setState({ step: "uploading", file, done: 0, total: file.chunks.length });
		try {
			const result = await uploadStores(file.features, file.chunks, (done, total) =>
				setState({ step: "uploading", file, done, total }),
			);
			setState({ step: "done", result });
			onUploaded();
		} catch (e) {
			const detail =
				e instanceof ApiError && e.errors.length
					? `${e.message} ${e.errors
							.slice(0, 5)
							.map((x) => `${x.id ?? ""} ${x.path.join(".")}: ${x.message}`)
							.join("; ")}`
					: e instanceof ApiError
						? e.message
						: errorText(e);
			setState({ step: "failed", message: t("uploadFailed", { detail }), file });
		}
	};

	return (
		<details class="panel" open={state.step !== "idle" || undefined}>
			<summary>{t("importTitle")}</summary>
			<p class="muted">{t("importHelp")}</p>
			<label for="import-file">{t("chooseFile")}</label>
			<input
				id="import-file"
				type="file"
				accept=".csv,.txt,.json,.geojson,.kml,text/csv,application/geo+json,application/json,application/vnd.google-earth.kml+xml"
				disabled={state.step === "uploading" || state.step === "checking"}
				onChange={(e) => void choose(e.currentTarget)}
			/>
			{state.step === "checking" && <Status>{t("checking", { name: state.name })}</Status>}
			{state.step === "checked" && state.file.problems.length > 0 && <Problems file={state.file} />}
			{state.step === "checked" && state.file.problems.length === 0 && (
				<>
					<Status kind="ok">{t("fileClean", { count: fmtNumber(state.file.features.length) })}</Status>
					<button type="button" class="primary" onClick={() => void upload(state.file)}>
						{t("upload", { count: fmtNumber(state.file.features.length) })}
					</button>
				</>
			)}
			{state.step === "uploading" && (
				<div>
					<label for="import-progress">{t("uploading", { done: state.done, total: state.total })}</label>
					<progress id="import-progress" max={state.total} value={state.done} />
				</div>
			)}
			{state.step === "done" && (
				<Status kind="ok">
					{state.result.created !== undefined
						? t("uploaded", {
								created: fmtNumber(state.result.created),
								updated: fmtNumber(state.result.updated ?? 0),
								unchanged: fmtNumber(state.result.unchanged),
							})
						: t("uploadedUpserted", {
								upserted: fmtNumber(state.result.upserted),
								unchanged: fmtNumber(state.result.unchanged),
							})}
				</Status>
			)}
			{state.step === "failed" && <Status kind="error">{state.message}</Status>}
		</details>
	);
}

function Problems({ file }: { file: CheckedFile }) {
	return (
		<div>
			<Status kind="error">{t("fileErrors", { count: fmtNumber(file.problems.length) })}</Status>
			<div class="table-wrap" {...scrollable(t("importTitle"))}>
				<table class="problems" data-testid="import-problems">
					<thead>
						<tr>
							<th scope="col">{t("line", { line: "" }).trim()}</th>
							<th scope="col">{t("id")}</th>
							<th scope="col">{t("reason")}</th>
						</tr>
					</thead>
					<tbody>
						{file.problems.slice(0, 1000).map((p, i) => (
							<tr key={i}>
								<td>
									{p.line !== null
										? t("line", { line: p.line })
										: p.index !== null
											? t("feature", { index: p.index + 1 })
											: ""}
								</td>
								<td>{p.id ?? ""}</td>
								<td>
									{p.field && <code>{p.field}</code>} {p.message}
								</td>
							</tr>
						))}
					</tbody>
				</table>
			</div>
		</div>
	);
}
