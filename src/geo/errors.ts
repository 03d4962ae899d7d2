/** Stable codes of the errors the geo core throws (validation problems are returned, not thrown). */
export type GeoErrorCode = "invalid_fence" | "invalid_coordinate";

/**
 * An error of the geo core with a stable `code`, for programming errors such as handing the
 * index a fence that never went through validation. The Worker maps it to a problem response.
 */
export class GeoError extends Error {
	/** Stable, machine-readable reason. */
	readonly code: GeoErrorCode;

	/**
	 * @param code stable reason code
	 * @param message human-readable detail (not part of the contract)
	 */
	constructor(code: GeoErrorCode, message: string) {
		super(message);
		this.name = "GeoError";
		this.code = code;
	}
}
