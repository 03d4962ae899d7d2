import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./api.js";
import { t } from "./i18n.js";

/** A message for any failure: the API's problem detail, or that the service did not answer. */
export function errorText(e: unknown): string {
	if (e instanceof ApiError) return e.status === 0 ? t("offline") : t("error", { detail: e.message });
	return t("error", { detail: e instanceof Error ? e.message : String(e) });
}

/** A status line read out by screen readers when it changes. */
export function Status({
	kind = "info",
	children,
}: {
	kind?: "info" | "error" | "ok";
	children: ComponentChildren;
}) {
	return (
		<p class={`status status-${kind}`} role={kind === "error" ? "alert" : "status"}>
			{children}
		</p>
	);
}

/**
 * A button that asks first, in a modal `<dialog>` (focus is trapped and Escape cancels, natively).
 */
export function ConfirmButton(props: {
	label: string;
	question: string;
	onConfirm: () => void | Promise<void>;
	danger?: boolean;
	disabled?: boolean;
	ariaLabel?: string;
}) {
	const ref = useRef<HTMLDialogElement>(null);
	const [busy, setBusy] = useState(false);
	return (
		<>
			<button
				type="button"
				class={props.danger ? "danger" : ""}
				disabled={props.disabled || busy}
				aria-label={props.ariaLabel}
				onClick={() => ref.current?.showModal()}
			>
				{props.label}
			</button>
			<dialog ref={ref} aria-label={props.label}>
				<p>{props.question}</p>
				<div class="row">
					<button type="button" onClick={() => ref.current?.close()}>
						{t("cancel")}
					</button>
					<button
						type="button"
						class={props.danger ? "danger" : "primary"}
						onClick={async () => {
							ref.current?.close();
							setBusy(true);
							try {
								await props.onConfirm();
							} finally {
								setBusy(false);
							}
						}}
					>
						{t("confirm")}
					</button>
				</div>
			</dialog>
		</>
	);
}

/** Loads once per `deps` change; `reload` to fetch again. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]) {
	const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
	const [n, setN] = useState(0);
	useEffect(() => {
		const ac = new AbortController();
		setState((s) => ({ ...s, loading: true }));
		load(ac.signal).then(
			(data) => !ac.signal.aborted && setState({ data, loading: false }),
			(error) => !ac.signal.aborted && setState({ error, loading: false }),
		);
		return () => ac.abort();
	}, [...deps, n]);
	return { ...state, reload: () => setN((x) => x + 1) };
}

/** A labelled form field with the API's own error for its path shown beside it. */
export function Field(props: {
	label: string;
	id: string;
	error?: string | undefined;
	children: ComponentChildren;
	hint?: string;
}) {
	return (
		<div class={`field${props.error ? " invalid" : ""}`}>
			<label for={props.id}>{props.label}</label>
			{props.children}
			{props.hint && <small id={`${props.id}-hint`}>{props.hint}</small>}
			{props.error && (
				<small class="field-error" id={`${props.id}-error`} role="alert">
					{props.error}
				</small>
			)}
		</div>
	);
}

/**
 * An `<input>` type chosen at run time (Preact's typings tie each type to its own attribute
 * set, which a helper shared by text, number and date fields cannot name statically).
 */
export function inputType(type: string): { type: "text" } {
	return { type } as { type: "text" };
}

/**
 * A region that may scroll sideways (wide tables at phone width): focusable, so keyboard users
 * can scroll it too, and named for screen readers.
 */
export function scrollable(label: string): { tabIndex: number; role: "region"; "aria-label": string } {
	return { tabIndex: 0, role: "region", "aria-label": label };
}
